import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

/**
 * A group of routes (one file per resource, e.g. `agents/agent-routes.ts`). Inside, `app.route(...)` is typed
 * from the zod schemas, and `app.gateway` holds the shared clients. Register new modules in
 * `app/route-modules.ts`.
 */
export type GatewayRouteModule = FastifyPluginAsyncZod;
