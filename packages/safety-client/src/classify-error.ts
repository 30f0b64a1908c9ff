import { Code, ConnectError } from '@connectrpc/connect';
import { BrokenCircuitError, IsolatedCircuitError } from 'cockatiel';
import {
  SafetyKernelAbortedError,
  SafetyKernelCircuitOpenError,
  SafetyKernelError,
  SafetyKernelRequestError,
  SafetyKernelTimeoutError,
  SafetyKernelUnavailableError,
} from './errors.js';

/**
 * Codes that mean "the kernel could not answer" — they count against the circuit breaker. The others
 * (invalid_argument, permission_denied, ...) are answers from a live kernel.
 */
const FAILURE_CODES: ReadonlySet<Code> = new Set([
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.Internal,
  Code.Unknown,
  Code.ResourceExhausted,
  Code.Unimplemented,
  Code.Aborted,
  Code.DataLoss,
]);

/** The snake_case name of a Connect code (`deadline_exceeded`), as the Connect protocol spells it. */
export function codeName(code: Code): string {
  return (Code[code] ?? String(code)).replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}

/** True when a call error means the kernel is down or broken (the circuit breaker counts these). */
export function isKernelFailure(err: unknown): boolean {
  if (!(err instanceof ConnectError)) return true;
  return FAILURE_CODES.has(err.code);
}

/** Maps whatever a call threw to the client's typed errors. */
export function toSafetyKernelError(
  err: unknown,
  ctx: { timeoutMs: number; callerAborted: boolean; retryAfterMs: () => number },
): SafetyKernelError {
  if (err instanceof SafetyKernelError) return err;
  if (err instanceof BrokenCircuitError || err instanceof IsolatedCircuitError) {
    return new SafetyKernelCircuitOpenError(ctx.retryAfterMs(), { cause: err });
  }
  const ce = ConnectError.from(err);
  if (ctx.callerAborted) {
    return new SafetyKernelAbortedError('safety kernel call aborted by the caller', { cause: err, code: 'canceled' });
  }
  if (ce.code === Code.DeadlineExceeded) return new SafetyKernelTimeoutError(ctx.timeoutMs, { cause: err });
  const code = codeName(ce.code);
  if (FAILURE_CODES.has(ce.code) || ce.code === Code.Canceled) {
    return new SafetyKernelUnavailableError(`safety kernel unavailable (${code}): ${ce.rawMessage}`, {
      cause: err,
      code,
    });
  }
  return new SafetyKernelRequestError(`safety kernel refused the request (${code}): ${ce.rawMessage}`, {
    cause: err,
    code,
  });
}
