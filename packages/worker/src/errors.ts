/** Thrown by `resolveWorkerOptions` / `createWorker` when an option is invalid; the message names it and the expected form. */
export class WorkerOptionsError extends Error {
  override name = 'WorkerOptionsError';
}

/** Thrown by the client when a submit or wait is asked with invalid arguments. */
export class ClientArgumentError extends Error {
  override name = 'ClientArgumentError';
}

/** Thrown by `Client.submit` when the input cannot be stored or the stream does not acknowledge the submit. */
export class SubmitError extends Error {
  override name = 'SubmitError';
  constructor(
    message: string,
    /** The job id that was being submitted (retry with the same id: the stream dedupes on it). */
    readonly jobId: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Thrown by `Client.submit` when JetStream refuses the submit because the submit stream is full: the schedulers'
 * backlog reached its bound (`CAPSTAN_SUBMIT_BACKLOG_MAX`), so the system is at capacity. Nothing was accepted;
 * retry later (with backoff), with the same `jobId`. Admission control, not a fault: the gateway answers it with 429.
 */
export class SubmitRefusedError extends SubmitError {
  override name = 'SubmitRefusedError';
  /** The gRPC-style status of the refusal, the same the gateway and CAP workers use for "at capacity". */
  readonly code = 'RESOURCE_EXHAUSTED' as const;
}

/** Thrown by `Client.waitForResult` when the job is not terminal within `timeoutMs`. */
export class WaitForResultTimeoutError extends Error {
  override name = 'WaitForResultTimeoutError';
  constructor(
    message: string,
    /** The job being waited for (after following duplicates). */
    readonly jobId: string,
    /** The last state seen, if any event or snapshot arrived. */
    readonly lastState: string | undefined,
  ) {
    super(message);
  }
}

/** Thrown by `Client.waitForResult` when the job succeeded but its output cannot be read from the pointer store. */
export class ResultReadError extends Error {
  override name = 'ResultReadError';
  constructor(
    message: string,
    readonly jobId: string,
    readonly resultPtr: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Thrown by `createWorker` when the worker cannot start (e.g. its subscriptions cannot be registered). */
export class WorkerStartError extends Error {
  override name = 'WorkerStartError';
}
