import { pingDatabase } from '@capstan/store';
import { z } from 'zod';
import type { GatewayRouteModule } from '../http/route-module.js';

const checkSchema = z.enum(['ok', 'failing']);

async function check(probe: () => Promise<unknown>, timeoutMs: number): Promise<'ok' | 'failing'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), timeoutMs);
  });
  try {
    await Promise.race([probe(), timeout]);
    return 'ok';
  } catch {
    return 'failing';
  } finally {
    clearTimeout(timer);
  }
}

/** `/health` (liveness, CACP shape) and `/ready` (database, NATS and Redis reachable). Both unauthenticated. */
export const healthRoutes: GatewayRouteModule = async (app) => {
  app.route({
    method: 'GET',
    url: '/health',
    config: { access: 'public', rateLimit: false },
    schema: {
      tags: ['health'],
      summary: 'Liveness: the process is up',
      response: { 200: z.object({ status: z.literal('ok'), timestamp: z.number().int() }) },
    },
    handler: async () => ({ status: 'ok' as const, timestamp: Date.now() }),
  });

  app.route({
    method: 'GET',
    url: '/ready',
    config: { access: 'public', rateLimit: false },
    schema: {
      tags: ['health'],
      summary: 'Readiness: database, NATS and Redis reachable (503 otherwise)',
      response: {
        '2XX': z.object({
          status: z.enum(['ready', 'not_ready']),
          checks: z.object({ database: checkSchema, nats: checkSchema, redis: checkSchema }),
        }),
        503: z.object({
          status: z.enum(['ready', 'not_ready']),
          checks: z.object({ database: checkSchema, nats: checkSchema, redis: checkSchema }),
        }),
      },
    },
    handler: async (_request, reply) => {
      const { db, bus, redis } = app.gateway;
      const [database, nats, redisCheck] = await Promise.all([
        check(() => pingDatabase(db), 2000),
        check(() => bus.nc.flush(), 2000),
        check(() => redis.ping(), 2000),
      ]);
      const checks = { database, nats, redis: redisCheck };
      const ready = Object.values(checks).every((c) => c === 'ok');
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
    },
  });
};
