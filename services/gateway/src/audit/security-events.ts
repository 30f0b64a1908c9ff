import type { FastifyRequest } from 'fastify';
import type { GatewayContext } from '../app/gateway-context.js';
import type { GatewayError } from '../errors/gateway-error.js';

/**
 * Appends a security event (rejected credential, permission denied, organization mismatch) for a request that
 * is not otherwise audited. The tenant is the caller's when known; rejected credentials have none.
 */
export async function recordSecurityEvent(
  gateway: GatewayContext,
  request: FastifyRequest,
  action: string,
  error: GatewayError | null,
  details: Record<string, unknown> = {},
): Promise<void> {
  const auth = request.auth;
  const path = request.routeOptions.url ?? request.url.split('?')[0] ?? '';
  await gateway.audit.record({
    organizationId: auth?.organizationId ?? null,
    actorType: auth?.principalType ?? 'anonymous',
    actorId: auth?.principalId ?? '',
    action,
    resourceType: 'route',
    resourceId: `${request.method} ${path}`.slice(0, 256),
    outcome: error ? 'failure' : 'success',
    statusCode: error?.statusCode ?? null,
    ipAddress: request.ip,
    userAgent: request.headers['user-agent'] ?? '',
    traceId: request.id,
    details: error ? { ...details, error_code: error.code, message: error.message } : details,
  });
}
