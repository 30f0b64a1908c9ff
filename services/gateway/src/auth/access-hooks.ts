import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler, RouteOptions } from 'fastify';
import { recordSecurityEvent } from '../audit/security-events.js';
import { GatewayError } from '../errors/gateway-error.js';
import { roleAtLeast } from './roles.js';
import { hasScope } from './scopes.js';

/** Response header set when `X-Organization-Id` disagreed with the credential's organization. */
export const ORGANIZATION_MISMATCH_HEADER = 'x-organization-mismatch';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Routes under this prefix come from plugins (the API reference UI) and are public, read-only pages. */
export const DOCS_PREFIX = '/docs';

const authError = Symbol('capstan.authError');
type WithAuthError = FastifyRequest & { [authError]?: GatewayError };

/**
 * Authentication, as the first global `onRequest` hook: resolves the credential to `request.auth` but does not
 * reject yet, so the rate limiter (which runs next) counts rejected calls against the client IP. Runs before
 * the body is read: unauthenticated callers never get their bodies parsed.
 */
export function installAuthentication(app: FastifyInstance): void {
  app.decorateRequest('auth', null);
  app.decorateRequest('audit', null as never);
  app.addHook('onRequest', async (request) => {
    request.audit = {};
    const access = request.routeOptions.config.access;
    if (request.is404 || access === undefined || access === 'public') return;
    const { credentials } = app.gateway;
    try {
      const credential = credentials.read(request.headers);
      if (credential) {
        request.auth = await credentials.resolve(credential, request.headers);
      } else if (access !== 'optional') {
        throw new GatewayError(
          'AUTHENTICATION_REQUIRED',
          'Authentication required: send X-API-Key: cacp_… or Authorization: Bearer <JWT or API key>',
        );
      }
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      (request as WithAuthError)[authError] = err;
    }
  });
}

/** Route-level hook enforcing the route's {@link RouteAccess}: credential errors, role, scope, org mismatch. */
const enforceAccess: onRequestAsyncHookHandler = async function (request, reply) {
  const error = (request as WithAuthError)[authError];
  const access = request.routeOptions.config.access;
  const audited = Boolean(request.routeOptions.config.audit);
  if (error) {
    // A presented-but-rejected credential is a security event; a missing one on a read is just a 401.
    const presented = request.headers.authorization !== undefined || request.headers['x-api-key'] !== undefined;
    if (presented && !audited) await recordSecurityEvent(this.gateway, request, 'auth.credential_rejected', error);
    throw error;
  }
  const auth = request.auth;
  if (auth?.organizationMismatch) {
    reply.header(ORGANIZATION_MISMATCH_HEADER, 'true');
    await recordSecurityEvent(this.gateway, request, 'auth.organization_mismatch', null, {
      requested_organization_id: auth.organizationMismatch,
    });
  }
  if (access === undefined || typeof access === 'string') return;
  if (!auth) throw new GatewayError('AUTHENTICATION_REQUIRED');
  let denied: GatewayError | undefined;
  if (!roleAtLeast(auth.role, access.role)) {
    denied = new GatewayError(
      'FORBIDDEN',
      `Insufficient permissions: requires role ${access.role} or above (you are ${auth.role})`,
    );
  } else if (access.scope && !hasScope(auth.scopes, access.scope)) {
    denied = new GatewayError('FORBIDDEN', `Insufficient permissions: this API key lacks the ${access.scope} scope`);
  }
  if (denied) {
    if (!audited) await recordSecurityEvent(this.gateway, request, 'auth.permission_denied', denied);
    throw denied;
  }
};

/**
 * Checks every route's declarations at registration and appends {@link enforceAccess} to its `onRequest`
 * hooks. Must be added after the rate-limit plugin so that enforcement runs after counting.
 */
export function installAccessEnforcement(app: FastifyInstance): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    if (route.url.startsWith(DOCS_PREFIX)) {
      route.config = { ...route.config, access: 'public' };
      return;
    }
    const config = route.config as { access?: unknown; audit?: unknown } | undefined;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (config?.access === undefined) {
      throw new Error(`Route ${methods.join(',')} ${route.url} must declare config.access (see http/route-config.ts)`);
    }
    if (methods.some((m) => MUTATING.has(m)) && config.audit === undefined) {
      throw new Error(`Mutating route ${methods.join(',')} ${route.url} must declare config.audit`);
    }
    const existing = route.onRequest;
    route.onRequest = [
      ...(existing === undefined ? [] : Array.isArray(existing) ? existing : [existing]),
      enforceAccess,
    ];
  });
}
