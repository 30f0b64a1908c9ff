import type { FastifyInstance } from 'fastify';

/**
 * Appends one audit entry for every call to a route that declares `config.audit` (every mutating route must),
 * successful or not, before the response leaves: actor and tenant from the credential (or the facts a public
 * handler set on `request.audit`), resource id from the path parameter or the handler, client IP, trace id.
 */
export function installAuditHook(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply, payload) => {
    const audit = request.routeOptions.config.audit;
    if (!audit || request.is404) return payload;
    const auth = request.auth;
    const facts = request.audit ?? {};
    const params = (request.params ?? {}) as Record<string, unknown>;
    const fromParam = params[audit.resourceIdParam ?? 'id'];
    const details: Record<string, unknown> = { ...facts.details };
    if (facts.errorCode !== undefined) details.error_code = facts.errorCode;
    await app.gateway.audit.record({
      organizationId: auth?.organizationId ?? facts.organizationId ?? null,
      actorType: auth?.principalType ?? (facts.actorType as 'user' | 'agent' | undefined) ?? 'anonymous',
      actorId: auth?.principalId ?? facts.actorId ?? '',
      action: audit.action,
      resourceType: audit.resourceType,
      resourceId: String(facts.resourceId ?? (typeof fromParam === 'string' ? fromParam : '')).slice(0, 256),
      outcome: reply.statusCode < 400 ? 'success' : 'failure',
      statusCode: reply.statusCode,
      ipAddress: request.ip,
      userAgent: request.headers['user-agent'] ?? '',
      traceId: request.id,
      details: Object.keys(details).length > 0 ? details : null,
    });
    return payload;
  });
}
