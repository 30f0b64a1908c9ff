/**
 * Reasons a job's `ctx.signal` aborts with (`signal.reason`). Handlers may check them with `instanceof`, but they
 * need not: the worker reports the outcome from the reason, whatever the handler throws afterwards.
 */

/** The job was cancelled (a `JobCancel` arrived); reported as `CANCELLED`. */
export class JobCancelledError extends Error {
  override name = 'JobCancelledError';
  constructor(
    /** The cancel's `reason`, or a default text. */
    readonly reason: string,
    /** Who asked (`JobCancel.requested_by`), when given. */
    readonly requestedBy: string,
  ) {
    super(`job cancelled: ${reason}`);
  }
}

/** The job's deadline (`budget.deadline_ms`) passed; reported as `TIMEOUT` with error_code "200". */
export class JobDeadlineExceededError extends Error {
  override name = 'JobDeadlineExceededError';
  constructor(
    /** The deadline, ms since the epoch. */
    readonly deadlineMs: number,
  ) {
    super(`job deadline passed at ${new Date(deadlineMs).toISOString()}`);
  }
}

/** The worker is shutting down and the drain timeout passed; handed back as `FAILED_RETRYABLE` with "402". */
export class WorkerShutdownError extends Error {
  override name = 'WorkerShutdownError';
  constructor(message = 'worker shut down before the job finished; handed back for another worker') {
    super(message);
  }
}

/** Any of the abort reasons the worker uses. */
export type JobAbortReason = JobCancelledError | JobDeadlineExceededError | WorkerShutdownError;
