import type { JobRequest } from '@capstan/gen/cordum/agent/v1/job_pb';
import type { Logger } from 'pino';

/** Options of {@link JobContext.writeArtifact}. */
export interface WriteArtifactOptions {
  /** MIME type stored with the artifact. @default 'application/octet-stream' for bytes, 'text/plain; charset=utf-8' for strings */
  contentType?: string;
}

/** What a handler gets beside its input: identity of the job, cancellation, progress and artifacts. */
export interface JobContext {
  /** `JobRequest.job_id`. */
  readonly jobId: string;
  /** Attempt number from the dispatch's lease header (1 when the dispatcher sent no lease). */
  readonly attempt: number;
  /** Lease epoch from the dispatch's lease header (0 when the dispatcher sent no lease). */
  readonly epoch: number;
  /** Trace id of the dispatch packet; carried on every packet the worker publishes for this job. */
  readonly traceId: string;
  /**
   * Key for side effects (payments, e-mails, writes to other systems): `meta.idempotency_key` when the submitter set
   * one, else the job id. Jobs are delivered at least once and retried, so pass this key to anything that must
   * happen once per job.
   */
  readonly idempotencyKey: string;
  /** The raw CAP request (topic, labels, env, budget, meta...). */
  readonly request: JobRequest;
  /** Aborts on cancel, on the job's deadline and when the worker's shutdown timeout passes; see `signal.reason`. */
  readonly signal: AbortSignal;
  /** A child of the worker's logger whose lines carry `job_id`, `trace_id` and `tenant`. */
  readonly logger: Logger;
  /**
   * Publishes `JobProgress{percent, message, status: RUNNING}` for this job (fire-and-forget).
   * @param percent 0–100; fractions are rounded.
   * @throws {RangeError} when `percent` is not a number from 0 to 100.
   */
  progress(percent: number, message?: string): void;
  /**
   * Records a checkpoint: the worker's heartbeats carry `memo` as `last_memo` (objects are JSON-encoded) and
   * `percent` (or the last reported progress) as `progress_pct`, until a newer checkpoint or until this job ends.
   */
  checkpoint(memo: string | Record<string, unknown>, percent?: number): void;
  /**
   * Stores an artifact under `redis://art:<job_id>:<name>` and adds its pointer to the result's `artifact_ptrs`.
   * @param name letters, digits, `.`, `_` and `-` (1–128 chars).
   * @returns the artifact's pointer URI.
   */
  writeArtifact(name: string, data: Uint8Array | string, options?: WriteArtifactOptions): Promise<string>;
}

/**
 * Runs one job. `input` is the JSON behind `context_ptr` (undefined when the request has none); it is not
 * validated, so check its shape. The return value is stored as JSON behind `result_ptr`. Throw a `JobFailure` to
 * choose between FAILED_FATAL and FAILED_RETRYABLE; any other error is reported as FAILED_RETRYABLE.
 */
export type JobHandler<TInput = unknown> = (input: TInput, ctx: JobContext) => Promise<unknown> | unknown;
