import { sql } from 'kysely';
import { z } from 'zod';
import type { AuthContext } from '../auth/auth-context.js';
import { cursorPaginationSchema, cursorSchema, decodeCursor, pageOf, perPageSchema } from '../http/pagination.js';
import type { GatewayRouteModule } from '../http/route-module.js';

/** A live worker as the API returns it. */
export const workerSchema = z
  .object({
    worker_id: z.string(),
    agent_ids: z.array(z.string()).describe('The organization’s agents registered with this worker_id'),
    availability: z.enum(['online', 'busy']),
    connected: z.boolean().describe('Holds an open WebSocket session (agent:<agent_id> channel) on this gateway'),
    heartbeat: z
      .object({
        pool: z.string(),
        active_jobs: z.number().int(),
        max_parallel_jobs: z.number().int(),
        cpu_load: z.number(),
        capabilities: z.array(z.string()),
        last_seen_at: z.string(),
      })
      .nullable()
      .describe('The latest sys.heartbeat; null for an agent that is only connected over WebSocket'),
  })
  .meta({ id: 'Worker' });

/**
 * `GET /v1/workers`: the organization's live workers. CAP heartbeats carry no tenant — workers are shared
 * infrastructure on the bus — so a worker belongs to an organization through the agent registry: it is listed when
 * an agent of the organization is registered with its `worker_id` (`POST /v1/agents`, default the agent id) and
 * it is live (a heartbeat younger than the presence TTL, or an open WebSocket session). Pool workers no agent
 * claims are operators' infrastructure and appear in no organization's list.
 */
export const workerRoutes: GatewayRouteModule = async (app) => {
  const { db, presence, streams } = app.gateway;

  app.route({
    method: 'GET',
    url: '/v1/workers',
    config: { access: { role: 'viewer', scope: 'workers:read' } },
    schema: {
      tags: ['workers'],
      summary: 'List the organization’s live workers (by worker_id)',
      querystring: z.strictObject({ per_page: perPageSchema, cursor: cursorSchema.optional() }),
      response: { 200: z.object({ workers: z.array(workerSchema), pagination: cursorPaginationSchema }) },
    },
    handler: async (request) => {
      const auth = request.auth as AuthContext;
      const q = request.query;
      const live = presence.liveWorkerIds();
      if (live.length === 0)
        return { workers: [], pagination: { per_page: q.per_page, next_cursor: null, has_more: false } };
      let query = db
        .selectFrom('agents')
        .select(['worker_id', sql<string[]>`array_agg(agent_id ORDER BY agent_id)`.as('agent_ids')])
        .where('organization_id', '=', auth.organizationId)
        // One array parameter, however many workers are live.
        .where(sql<boolean>`worker_id = ANY(${live}::text[])`)
        .groupBy('worker_id');
      if (q.cursor) query = query.where('worker_id', '>', decodeCursor(q.cursor, z.object({ w: z.string() })).w);
      const rows = await query
        .orderBy('worker_id')
        .limit(q.per_page + 1)
        .execute();
      const { items, pagination } = pageOf(rows, q.per_page, (last) => ({ w: last.worker_id }));
      return {
        workers: items.map((row) => {
          const beat = presence.beat(row.worker_id);
          return {
            worker_id: row.worker_id,
            agent_ids: row.agent_ids,
            availability: presence.availability(row.worker_id) === 'busy' ? ('busy' as const) : ('online' as const),
            connected: streams.isConnected(row.worker_id),
            heartbeat: beat
              ? {
                  pool: beat.pool,
                  active_jobs: beat.activeJobs,
                  max_parallel_jobs: beat.maxParallelJobs,
                  cpu_load: beat.cpuLoad,
                  capabilities: [...beat.capabilities],
                  last_seen_at: new Date(beat.seenAt).toISOString(),
                }
              : null,
          };
        }),
        pagination,
      };
    },
  });
};
