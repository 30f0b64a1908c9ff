import websocket from '@fastify/websocket';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  LogController,
  type preHandlerAsyncHookHandler,
} from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { installAuditHook } from '../audit/audit-hook.js';
import { installAccessEnforcement, installAuthentication } from '../auth/access-hooks.js';
import {
  frameworkErrorHandler,
  installErrorHandler,
  installNotFoundHandler,
  sendError,
} from '../errors/error-handler.js';
import { registerOpenApi } from '../http/openapi.js';
import { registerRateLimit } from '../http/rate-limit.js';
import type { GatewayRouteModule } from '../http/route-module.js';
import { TRACE_ID_HEADER, traceIdFor } from '../http/trace-id.js';
import { backlogFullError } from '../jobs/submit-admission.js';
import { closeStreamsOnShutdown, WEBSOCKET_MAX_FRAME_BYTES } from '../streaming/ws-routes.js';
import type { GatewayContext } from './gateway-context.js';
import { ROUTE_MODULES } from './route-modules.js';
import { GATEWAY_VERSION } from './version.js';

/** The submit route, shed early under overload. */
const SUBMIT_PATH = '/v1/jobs';

/** Longest path parameter accepted; longer ones reach validation (400) instead of fastify's silent 404. */
const MAX_PARAM_LENGTH = 512;

/**
 * Builds the gateway's fastify app (not yet listening). The request pipeline, in order:
 * 1. `onRequest`: trace id header → authentication (`request.auth`) → rate limit (per organization or IP) →
 *    access enforcement (credential errors, role, scope, organization mismatch) — all before the body is read;
 * 2. body parsing (JSON only, size-limited) → zod validation of params/query/body/headers;
 * 3. handler → zod response serialization;
 * 4. `onSend`: audit entry for routes with `config.audit`.
 * Errors anywhere become the JSON error shape (errors/error-handler.ts).
 */
export async function createGatewayApp(
  context: GatewayContext,
  modules: readonly GatewayRouteModule[] = ROUTE_MODULES,
): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps the app typed with the default logger type.
    loggerInstance: context.logger.child({ component: 'http' }) as FastifyBaseLogger,
    // Per-request info lines would dominate the logs; failures are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'trace_id' }),
    bodyLimit: context.config.bodyLimitBytes,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    trustProxy: context.config.trustProxy,
    genReqId: (req) => traceIdFor(req.headers),
    return503OnClosing: true,
    frameworkErrors: frameworkErrorHandler,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorate('gateway', context);
  // JSON only: a text/plain body gets a clear 415 instead of a confusing "expected object, received string".
  app.removeContentTypeParser('text/plain');

  installErrorHandler(app);
  // Graceful stop: responses finished while closing say `Connection: close`, so keep-alive clients let go and
  // close() completes once in-flight requests are answered (instead of waiting out the keep-alive timeout).
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    // The route's pattern, never the raw URL (ids would make every request its own series).
    const route = request.is404 ? 'unmatched' : (request.routeOptions.url ?? 'unmatched');
    context.metrics.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header(TRACE_ID_HEADER, request.id);
    // Overload shedding comes before authentication: a refusal must cost far less than an acceptance, or refused
    // requests queue in front of admitted ones (see BACKLOG_FULL_SHED_MS). It says only "at capacity".
    if (request.method === 'POST' && context.submitLimiter.shedding() && request.url.split('?')[0] === SUBMIT_PATH)
      return sendError(request, reply, backlogFullError(undefined));
  });
  installAuthentication(app);
  await registerRateLimit(app);
  installNotFoundHandler(app, app.rateLimit() as preHandlerAsyncHookHandler);
  installAccessEnforcement(app);
  installAuditHook(app);
  await registerOpenApi(app, GATEWAY_VERSION);
  await app.register(websocket, {
    options: { maxPayload: WEBSOCKET_MAX_FRAME_BYTES },
    preClose: closeStreamsOnShutdown,
  });
  for (const module of modules) await app.register(module);
  return app;
}
