import { JobStatus } from '@capstan/gen/cordum/agent/v1/job_pb';
import { isPointerError } from '@capstan/pointers';
import { capErrorString } from '@capstan/protocol';
import { JobCancelledError, JobDeadlineExceededError, WorkerShutdownError } from './abort-reasons.js';
import { JobFailure } from './job-failure.js';

/** The failure part of a `JobResult`: a terminal non-success status with its error code and message. */
export interface JobOutcome {
  status: JobStatus;
  /** Wire error code (`''` when none). */
  errorCode: string;
  errorMessage: string;
}

/** Longest error message put on the wire; handlers sometimes throw errors carrying whole payloads. */
export const MAX_ERROR_MESSAGE_LENGTH = 4096;

/**
 * Pointer failures reading the input that a retry cannot fix: the context is missing, expired, malformed or too
 * big. Others (backend down, scheme not served by this worker) may succeed elsewhere or later.
 */
const FATAL_INPUT_CODES = new Set([
  'NOT_FOUND',
  'EXPIRED',
  'INVALID_POINTER',
  'INVALID_PAYLOAD',
  'TOO_LARGE',
  'CHECKSUM_MISMATCH',
]);

/** Pointer failures storing the result that would repeat on every attempt (not JSON-serialisable, too big). */
const FATAL_RESULT_CODES = new Set(['INVALID_PAYLOAD', 'TOO_LARGE']);

/**
 * Outcome of a handler that threw: a fatal `JobFailure` → FAILED_FATAL; a retryable one, or any other error →
 * FAILED_RETRYABLE (as in Temporal, only an explicit fatal failure stops retries).
 */
export function outcomeFromHandlerError(error: unknown): JobOutcome {
  if (error instanceof JobFailure) {
    return failure(error.nonRetryable ? JobStatus.FAILED_FATAL : JobStatus.FAILED_RETRYABLE, error.code, error.message);
  }
  return failure(JobStatus.FAILED_RETRYABLE, '', errorText(error));
}

/** Outcome of a job whose signal aborted: CANCELLED, TIMEOUT ("200") or a shutdown hand-back (FAILED_RETRYABLE "402"). */
export function outcomeFromAbort(reason: unknown): JobOutcome {
  if (reason instanceof JobCancelledError) return failure(JobStatus.CANCELLED, '', reason.message);
  if (reason instanceof JobDeadlineExceededError)
    return failure(JobStatus.TIMEOUT, capErrorString('JOB_TIMEOUT'), reason.message);
  if (reason instanceof WorkerShutdownError) return handBack('CONNECTION_LOST', reason.message);
  return failure(JobStatus.FAILED_RETRYABLE, '', errorText(reason));
}

/** Outcome of a job whose input could not be read from `context_ptr`. */
export function outcomeFromInputError(error: unknown, contextPtr: string): JobOutcome {
  const message = `cannot read the job input at ${contextPtr}: ${errorText(error)}`;
  if (isPointerError(error) && FATAL_INPUT_CODES.has(error.code)) {
    return failure(JobStatus.FAILED_FATAL, capErrorString('INVALID_INPUT'), message);
  }
  return failure(JobStatus.FAILED_RETRYABLE, '', message);
}

/** Outcome of a job whose result could not be stored at `resultPtr`. */
export function outcomeFromResultError(error: unknown, resultPtr: string): JobOutcome {
  const message = `cannot store the job result at ${resultPtr}: ${errorText(error)}`;
  const fatal = isPointerError(error) && FATAL_RESULT_CODES.has(error.code);
  return failure(fatal ? JobStatus.FAILED_FATAL : JobStatus.FAILED_RETRYABLE, '', message);
}

/**
 * A job given back untouched or unfinished so the scheduler re-dispatches it: FAILED_RETRYABLE with
 * "201" (RESOURCE_EXHAUSTED: over capacity), "402" (CONNECTION_LOST: shutting down) or "206" (WORKER_UNAVAILABLE).
 */
export function handBack(
  code: 'RESOURCE_EXHAUSTED' | 'CONNECTION_LOST' | 'WORKER_UNAVAILABLE',
  message: string,
): JobOutcome {
  return failure(JobStatus.FAILED_RETRYABLE, capErrorString(code), message);
}

function failure(status: JobStatus, errorCode: string, message: string): JobOutcome {
  const errorMessage =
    message.length > MAX_ERROR_MESSAGE_LENGTH ? `${message.slice(0, MAX_ERROR_MESSAGE_LENGTH - 1)}…` : message;
  return { status, errorCode, errorMessage };
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === 'string') return error;
  try {
    return `non-Error value thrown: ${JSON.stringify(error)}`;
  } catch {
    return `non-Error value thrown: ${String(error)}`;
  }
}
