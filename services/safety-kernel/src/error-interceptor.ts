import { PolicyBundleError } from '@capstan/policy';
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import type { Logger } from 'pino';
import { SnapshotNotFoundError } from './errors.js';
import { MALFORMED_REQUEST } from './malformed-request-guard.js';
import { invalidBundleError } from './rpc-errors.js';

/**
 * What a client gets for anything an RPC threw: a ConnectError passes unchanged, known domain errors get their
 * code, anything else is logged and becomes INTERNAL with a safe message (never a stack or SQL text).
 * `rpc` is `service/method`, for the log.
 */
export function toRpcError(err: unknown, rpc: string, logger: Logger): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof PolicyBundleError) return invalidBundleError('bundle', err.issues, err);
  if (err instanceof SnapshotNotFoundError) return new ConnectError(err.message, Code.NotFound);
  logger.error({ err, rpc }, 'RPC failed');
  const method = rpc.slice(rpc.lastIndexOf('/') + 1);
  return new ConnectError(
    `internal error in ${method}; the safety-kernel log has the details`,
    Code.Internal,
    undefined,
    undefined,
    err,
  );
}

/** INVALID_ARGUMENT for a binary request message that does not decode as `typeName`. */
export function undecodableRequestError(typeName: string, problem: string): ConnectError {
  return new ConnectError(
    `request: cannot decode ${typeName}: ${problem}; expected a binary protobuf message of that type`,
    Code.InvalidArgument,
  );
}

/** Applies {@link toRpcError} to every RPC served through Connect, and answers requests flagged as malformed. */
export function createErrorInterceptor(
  logger: Logger,
  onError: (rpc: string, code: Code) => void = () => {},
): Interceptor {
  return (next) => async (req) => {
    const rpc = `${req.service.typeName}/${req.method.name}`;
    const malformed = req.contextValues.get(MALFORMED_REQUEST);
    if (malformed !== undefined) {
      onError(rpc, Code.InvalidArgument);
      throw undecodableRequestError(req.method.input.typeName, malformed);
    }
    try {
      return await next(req);
    } catch (err) {
      const error = toRpcError(err, rpc, logger);
      onError(rpc, error.code);
      throw error;
    }
  };
}
