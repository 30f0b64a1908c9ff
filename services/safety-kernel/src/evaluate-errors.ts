import { PolicyArgumentError } from '@capstan/policy';
import { Code, ConnectError } from '@connectrpc/connect';

/**
 * Maps an evaluation failure to the wire: the only expected one is the velocity counter (Redis) failing, which is
 * UNAVAILABLE so the scheduler treats it like an unreachable kernel (fail closed unless configured otherwise).
 */
export function evaluationError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof PolicyArgumentError)
    return new ConnectError(err.message, Code.Internal, undefined, undefined, err);
  return new ConnectError(
    `velocity counter unavailable: ${(err as Error)?.message ?? String(err)}`,
    Code.Unavailable,
    undefined,
    undefined,
    err,
  );
}
