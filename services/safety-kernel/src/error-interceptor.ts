import { PolicyBundleError } from '@capstan/policy';
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import type { Logger } from 'pino';
import { SnapshotNotFoundError } from './errors.js';
import { MALFORMED_REQUEST } from './malformed-request-guard.js';
import { invalidBundleError } from './rpc-errors.js';

/**
 * Turns anything an RPC throws that is not already a ConnectError into one with a closed code, logging the cause:
 * clients get a code and a safe message, never a stack or SQL text.
 */
export function createErrorInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const malformed = req.contextValues.get(MALFORMED_REQUEST);
    if (malformed !== undefined) {
      throw new ConnectError(
        `request: cannot decode ${req.method.input.typeName}: ${malformed}; expected a binary protobuf message of that type`,
        Code.InvalidArgument,
      );
    }
    try {
      return await next(req);
    } catch (err) {
      if (err instanceof ConnectError) throw err;
      if (err instanceof PolicyBundleError) throw invalidBundleError('bundle', err.issues, err);
      if (err instanceof SnapshotNotFoundError) throw new ConnectError(err.message, Code.NotFound);
      logger.error({ err, rpc: `${req.service.typeName}/${req.method.name}` }, 'RPC failed');
      throw new ConnectError(
        `internal error in ${req.method.name}; the safety-kernel log has the details`,
        Code.Internal,
        undefined,
        undefined,
        err,
      );
    }
  };
}
