import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  RetryDeadLetterRequestSchema,
  RetryDeadLetterResponseSchema,
} from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import { CapstanSubjects } from '@capstan/protocol';
import { sql } from 'kysely';
import { z } from 'zod';
import type { AuthContext } from '../auth/auth-context.js';
import { GatewayError } from '../errors/gateway-error.js';
import { cursorSchema, decodeCursor, pageOf, perPageSchema } from '../http/pagination.js';
import { fitsPgBigint } from '../http/pg-ranges.js';
import type { GatewayRouteModule } from '../http/route-module.js';
import { topicSchema } from '../jobs/job-schemas.js';
import { dlqEntrySchema, dlqIdSchema, dlqListSchema, toDlqEntry } from './dlq-schemas.js';

/** How long the scheduler may take to answer a `capstan.ctl.dlq.retry` request. */
export const DLQ_RETRY_TIMEOUT_MS = 5000;

const dlqCursor = z.object({ c: z.iso.datetime(), i: z.string().refine(fitsPgBigint) });

/**
 * `/v1/dlq`: the organization's dead-lettered jobs (written by the scheduler in `job_dlq`) and their retry, which
 * asks a scheduler over `capstan.ctl.dlq.retry` to re-submit the job as a new one (`<job_id>-r<dlq_id>`).
 */
export const dlqRoutes: GatewayRouteModule = async (app) => {
  const gateway = app.gateway;
  const { db } = gateway;

  app.route({
    method: 'GET',
    url: '/v1/dlq',
    config: { access: { role: 'viewer', scope: 'dlq:read' } },
    schema: {
      tags: ['dlq'],
      summary: 'List the organization’s dead-lettered jobs, newest first',
      querystring: z.strictObject({
        topic: topicSchema.optional(),
        reason: z.string().max(64).optional().describe('e.g. fatal, max_retries_exceeded, safety_denied, no_workers'),
        retried: z.enum(['true', 'false']).optional().describe('Only entries already retried (true) or not (false)'),
        per_page: perPageSchema,
        cursor: cursorSchema.optional(),
      }),
      response: { 200: dlqListSchema },
    },
    handler: async (request) => {
      const auth = request.auth as AuthContext;
      const q = request.query;
      let query = db.selectFrom('job_dlq').selectAll().where('tenant', '=', auth.organizationId);
      if (q.topic) query = query.where('topic', '=', q.topic);
      if (q.reason) query = query.where('reason', '=', q.reason);
      if (q.retried === 'true') query = query.where('retried_job_id', 'is not', null);
      if (q.retried === 'false') query = query.where('retried_job_id', 'is', null);
      if (q.cursor) {
        const after = decodeCursor(q.cursor, dlqCursor);
        query = query.where(sql<boolean>`(created_at, id) < (${new Date(after.c)}, ${after.i}::bigint)`);
      }
      const rows = await query
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(q.per_page + 1)
        .execute();
      const { items, pagination } = pageOf(rows, q.per_page, (last) => ({
        c: last.created_at.toISOString(),
        i: String(last.id),
      }));
      return { entries: items.map(toDlqEntry), pagination };
    },
  });

  app.route({
    method: 'GET',
    url: '/v1/dlq/:id',
    config: { access: { role: 'viewer', scope: 'dlq:read' } },
    schema: {
      tags: ['dlq'],
      summary: 'Get one dead-letter entry',
      params: z.strictObject({ id: dlqIdSchema }),
      response: { 200: dlqEntrySchema },
    },
    handler: async (request) => {
      const auth = request.auth as AuthContext;
      const row = await db
        .selectFrom('job_dlq')
        .selectAll()
        .where('id', '=', request.params.id)
        .where('tenant', '=', auth.organizationId)
        .executeTakeFirst();
      if (!row) throw new GatewayError('DLQ_ENTRY_NOT_FOUND', `Dead-letter entry ${request.params.id} not found`);
      return toDlqEntry(row);
    },
  });

  app.route({
    method: 'POST',
    url: '/v1/dlq/:id/retry',
    config: {
      access: { role: 'developer', scope: 'dlq:write' },
      audit: { action: 'dlq.retried', resourceType: 'dlq_entry' },
    },
    schema: {
      tags: ['dlq'],
      summary: 'Retry a dead-lettered job as a new job',
      description:
        'The scheduler re-submits the original request as job <job_id>-r<dlq_id> (labelled capstan.retry_of) and marks the entry retried. An entry can be retried once: a second retry gets 409, code 6006, naming the retry job.',
      params: z.strictObject({ id: dlqIdSchema }),
      response: {
        202: z.object({ dlq_id: z.string(), job_id: z.string().describe('The new job'), retry_of: z.string() }),
      },
    },
    handler: async (request, reply) => {
      const auth = request.auth as AuthContext;
      const dlqId = request.params.id;
      const row = await db
        .selectFrom('job_dlq')
        .select(['id', 'job_id', 'retried_job_id'])
        .where('id', '=', dlqId)
        .where('tenant', '=', auth.organizationId)
        .executeTakeFirst();
      if (!row) throw new GatewayError('DLQ_ENTRY_NOT_FOUND', `Dead-letter entry ${dlqId} not found`);
      if (row.retried_job_id !== null) {
        throw new GatewayError(
          'TASK_NOT_RETRYABLE',
          `Dead-letter entry ${dlqId} was already retried as job ${row.retried_job_id}`,
        );
      }
      const ask = create(RetryDeadLetterRequestSchema, {
        dlqId,
        tenant: auth.organizationId,
        requestedBy: `${auth.principalType}:${auth.principalId}`,
      });
      let answer: ReturnType<typeof fromBinary<typeof RetryDeadLetterResponseSchema>>;
      try {
        const msg = await gateway.bus.nc.request(
          CapstanSubjects.ctlDlqRetry,
          toBinary(RetryDeadLetterRequestSchema, ask),
          {
            timeout: DLQ_RETRY_TIMEOUT_MS,
          },
        );
        answer = fromBinary(RetryDeadLetterResponseSchema, msg.data);
      } catch (cause) {
        throw new GatewayError('SERVICE_UNAVAILABLE', 'No scheduler answered the retry request; retry later', {
          cause,
          headers: { 'retry-after': '1' },
        });
      }
      if (!answer.ok) {
        // The entry was checked above; a refusal now means a concurrent retry won, or the original job is gone.
        if (/already retried/.test(answer.error)) throw new GatewayError('TASK_NOT_RETRYABLE', answer.error);
        throw new GatewayError('TASK_RETRY_FAILED', `The scheduler refused the retry: ${answer.error}`);
      }
      request.audit.details = { job_id: row.job_id, retry_job_id: answer.newJobId };
      return reply.code(202).send({ dlq_id: dlqId, job_id: answer.newJobId, retry_of: row.job_id });
    },
  });
};
