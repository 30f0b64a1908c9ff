/**
 * Admission control of `POST /v1/jobs`: what the gateway refuses when Capstan (or this replica) is at capacity.
 *
 * - The schedulers' backlog: the submit stream holds at most `CAPSTAN_SUBMIT_BACKLOG_MAX` submits (JetStream
 *   `discard: new`); a full stream refuses the publish and the gateway answers 429, code 1015, with `Retry-After`.
 * - This replica's own work: at most `CAPSTAN_GATEWAY_JOB_SUBMIT_MAX_IN_FLIGHT` submits are processed at once;
 *   beyond it the request is answered 503, code 1016, before its body is read, so the gateway's memory stays bounded
 *   whatever the offered load (a queue here would only add latency and memory).
 */
import { Subjects } from '@capstan/protocol';
import { GatewayError } from '../errors/gateway-error.js';

/** Seconds a refused submitter is told to wait (`Retry-After`): a backlog sized for ~50 ms drains well within it. */
export const SUBMIT_REFUSED_RETRY_AFTER_SECONDS = 1;

/** The 429 for a submit refused because the backlog is full (no job id when it was shed before getting one). */
export function backlogFullError(jobId: string | undefined, cause?: unknown): GatewayError {
  return new GatewayError(
    'SUBMIT_BACKLOG_FULL',
    `${jobId ? `Job ${jobId} was` : 'The job was'} not accepted (RESOURCE_EXHAUSTED): the job backlog (${Subjects.jobSubmit} stream) is full, Capstan is at capacity. Retry after the Retry-After delay, with backoff (an Idempotency-Key makes the retry safe)`,
    { cause, headers: { 'retry-after': String(SUBMIT_REFUSED_RETRY_AFTER_SECONDS) } },
  );
}

/** The 503 for a submit beyond this replica's bound of submits in progress. */
export function submitsInFlightError(max: number): GatewayError {
  return new GatewayError(
    'SUBMITS_IN_FLIGHT_LIMIT',
    `This gateway is processing ${max} submits already (CAPSTAN_GATEWAY_JOB_SUBMIT_MAX_IN_FLIGHT); nothing was accepted. Retry after the Retry-After delay, with backoff`,
    { headers: { 'retry-after': String(SUBMIT_REFUSED_RETRY_AFTER_SECONDS) } },
  );
}

/**
 * After JetStream refused a submit because the backlog is full, the next submits for this long are refused at once
 * (429, 1015) without storing their input or publishing: under overload a refusal must cost far less than an
 * acceptance, or refused requests queue in front of the admitted ones. Short enough that capacity freed by the
 * schedulers is used again within a fraction of a second.
 */
export const BACKLOG_FULL_SHED_MS = 100;

/** Counts the submits this replica is processing and refuses new ones beyond a bound (no queue). */
export interface SubmitLimiter {
  /** The bound ({@link SubmitLimiter.inFlight} never exceeds it). */
  readonly max: number;
  /** Submits in progress now. */
  readonly inFlight: number;
  /** Takes a slot and returns its release function (idempotent), or `undefined` when every slot is taken. */
  tryAcquire(): (() => void) | undefined;
  /** Records that JetStream refused a submit (backlog full): shed submits for {@link BACKLOG_FULL_SHED_MS}. */
  backlogFull(now?: number): void;
  /** True while submits are shed after a backlog-full refusal. */
  shedding(now?: number): boolean;
}

/** Creates a {@link SubmitLimiter} with `max` slots (`CAPSTAN_GATEWAY_JOB_SUBMIT_MAX_IN_FLIGHT`). */
export function createSubmitLimiter(max: number): SubmitLimiter {
  if (!Number.isInteger(max) || max < 1)
    throw new RangeError(`createSubmitLimiter max: got ${String(max)}; expected a positive integer`);
  let inFlight = 0;
  let shedUntil = 0;
  return {
    max,
    get inFlight() {
      return inFlight;
    },
    backlogFull(now = Date.now()) {
      shedUntil = now + BACKLOG_FULL_SHED_MS;
    },
    shedding: (now = Date.now()) => now < shedUntil,
    tryAcquire() {
      if (inFlight >= max) return undefined;
      inFlight++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        inFlight--;
      };
    },
  };
}
