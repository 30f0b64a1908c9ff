/**
 * Named errors of @capstan/safety-client. Every failed `check()` rejects with a {@link SafetyKernelError}
 * subclass, so callers can tell "the kernel could not be asked" (fail closed / open) from "the kernel refused the
 * request" without parsing messages.
 */

/** Base class of every error a safety-kernel call rejects with. */
export class SafetyKernelError extends Error {
  override name = 'SafetyKernelError';
  /**
   * The Connect/gRPC status code name when the kernel (or the transport) answered with one, e.g. `unavailable`,
   * `deadline_exceeded`, `invalid_argument`; empty otherwise.
   */
  readonly code: string;
  constructor(message: string, options: { cause?: unknown; code?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code ?? '';
  }
}

/** The kernel did not answer within the per-call timeout. Counts as a failure for the circuit breaker. */
export class SafetyKernelTimeoutError extends SafetyKernelError {
  override name = 'SafetyKernelTimeoutError';
  /** The timeout that expired, in milliseconds. */
  readonly timeoutMs: number;
  constructor(timeoutMs: number, options: { cause?: unknown } = {}) {
    super(`safety kernel did not answer within ${timeoutMs} ms`, { ...options, code: 'deadline_exceeded' });
    this.timeoutMs = timeoutMs;
  }
}

/** The kernel could not be reached or failed internally (connection refused, reset, 5xx-like codes). */
export class SafetyKernelUnavailableError extends SafetyKernelError {
  override name = 'SafetyKernelUnavailableError';
}

/**
 * The circuit breaker is open: recent calls failed, so this one was not attempted. Fails fast until the breaker
 * lets a trial call through (half-open) after `retryAfterMs`.
 */
export class SafetyKernelCircuitOpenError extends SafetyKernelError {
  override name = 'SafetyKernelCircuitOpenError';
  /** Roughly how long until the breaker lets a trial call through (0 when it is due now). */
  readonly retryAfterMs: number;
  constructor(retryAfterMs: number, options: { cause?: unknown } = {}) {
    super(
      `safety kernel circuit breaker is open after repeated failures; next trial call in ~${Math.max(0, Math.round(retryAfterMs))} ms`,
      { ...options, code: 'unavailable' },
    );
    this.retryAfterMs = Math.max(0, retryAfterMs);
  }
}

/**
 * The kernel answered but refused the request (invalid argument, permission denied, ...). The kernel is up, so
 * this does not count against the circuit breaker.
 */
export class SafetyKernelRequestError extends SafetyKernelError {
  override name = 'SafetyKernelRequestError';
  /**
   * True when asking again cannot help (`invalid_argument`: the request itself is malformed for the kernel).
   * The scheduler's PolicyPort contract reads this flag and denies the job instead of waiting for it forever.
   */
  get permanent(): boolean {
    return this.code === 'invalid_argument';
  }
}

/** The caller's AbortSignal fired before the kernel answered. */
export class SafetyKernelAbortedError extends SafetyKernelError {
  override name = 'SafetyKernelAbortedError';
}

/** `check()` was called after `close()`. */
export class SafetyKernelClosedError extends SafetyKernelError {
  override name = 'SafetyKernelClosedError';
  constructor() {
    super('safety kernel client is closed');
  }
}

/** Options given to `createSafetyKernelPolicy` are wrong; the message names the option and the expected form. */
export class InvalidSafetyClientOptionsError extends Error {
  override name = 'InvalidSafetyClientOptionsError';
}
