import { create } from '@bufbuild/protobuf';
import { JobCancelSchema } from '@capstan/gen/cordum/agent/v1/job_pb';
import { isTerminal, type JobState } from '@capstan/jobs';
import { Subjects } from '@capstan/protocol';
import { sql } from 'kysely';
import { z } from 'zod';
import type { AuthContext } from '../auth/auth-context.js';
import { sendError } from '../errors/error-handler.js';
import { GatewayError } from '../errors/gateway-error.js';
import { cursorPaginationSchema, cursorSchema, decodeCursor, pageOf, perPageSchema } from '../http/pagination.js';
import { MAX_PG_INTEGER } from '../http/pg-ranges.js';
import type { GatewayRouteModule } from '../http/route-module.js';
import { requireJob } from './job-lookup.js';
import { readJobResult } from './job-result.js';
import {
  cancelJobBodySchema,
  jobListSchema,
  jobParamsSchema,
  jobResultSchema,
  jobSchema,
  listJobsQuerySchema,
  storedJobEventSchema,
  submitJobBodySchema,
  submitJobHeadersSchema,
  submitJobResponseSchema,
} from './job-schemas.js';
import { acceptedJobView, apiState, toJob } from './job-view.js';
import { submitsInFlightError } from './submit-admission.js';
import { submitJob } from './submit-job.js';

const jobCursor = z.object({ c: z.iso.datetime(), j: z.string() });
const eventCursor = z.object({ s: z.number().int().min(0).max(MAX_PG_INTEGER) });

/** How long a cancel waits for an accepted job to be recorded by the scheduler before answering 409 (code 1010). */
export const CANCEL_WAIT_FOR_RECORD_MS = 3000;

/**
 * `/v1/jobs`: submit (durable before the answer), get, list, result, stored events, cancel. Every query is scoped to
 * the caller's organization (the CAP tenant); a job of another organization is a 404, exactly like a missing one.
 */
export const jobRoutes: GatewayRouteModule = async (app) => {
  const gateway = app.gateway;
  const { db } = gateway;

  app.route({
    method: 'POST',
    url: '/v1/jobs',
    config: {
      access: { role: 'developer', scope: 'jobs:write' },
      audit: { action: 'job.submitted', resourceType: 'job' },
    },
    schema: {
      tags: ['jobs'],
      summary: 'Submit a job',
      description:
        'Stores the input at redis://ctx:<job_id> and publishes a CAP JobRequest on sys.job.submit; answers once the JetStream stream acknowledged it (202, state ACCEPTED): from then on the job is durable and will be recorded and run by a scheduler. With an Idempotency-Key, a resubmit returns the same job (200, idempotent_replay true); the same key with a different body is refused (409, code 1012). At capacity nothing is accepted: 429 (code 1015) when the job backlog is full, 503 (code 1016) when this gateway has too many submits in progress; both with Retry-After.',
      headers: submitJobHeadersSchema,
      body: submitJobBodySchema,
      response: { 200: submitJobResponseSchema, 202: submitJobResponseSchema },
    },
    // After authentication, rate limit and access checks, before the body is read: a replica at its bound refuses
    // at once (503, code 1016) instead of queueing. The slot is freed when the response is done or the client left
    // (a handler still running then is bounded by the JetStream ack timeout).
    onRequest: async (request, reply) => {
      const release = gateway.submitLimiter.tryAcquire();
      // Answered here rather than thrown: a refusal at capacity is the system working, not a fault to log as one.
      if (!release) return sendError(request, reply, submitsInFlightError(gateway.submitLimiter.max));
      reply.raw.once('close', release);
    },
    handler: async (request, reply) => {
      const auth = request.auth as AuthContext;
      const outcome = await submitJob(gateway, auth, request.body, {
        traceId: request.id,
        idempotencyKey: request.headers['idempotency-key'],
      });
      request.audit.resourceId = outcome.jobId;
      request.audit.details = { topic: outcome.topic, idempotent_replay: outcome.replay };
      return reply.code(outcome.replay ? 200 : 202).send({
        job_id: outcome.jobId,
        trace_id: outcome.traceId,
        state: outcome.state,
        topic: outcome.topic,
        input_ptr: outcome.inputPtr,
        idempotent_replay: outcome.replay,
        accepted_at: outcome.acceptedAt.toISOString(),
      });
    },
  });

  app.route({
    method: 'GET',
    url: '/v1/jobs',
    config: { access: { role: 'viewer', scope: 'jobs:read' } },
    schema: {
      tags: ['jobs'],
      summary: 'List the organization’s jobs, newest first',
      description: 'Jobs accepted but not yet recorded by the scheduler (state ACCEPTED) are not listed.',
      querystring: listJobsQuerySchema.extend({ per_page: perPageSchema, cursor: cursorSchema.optional() }),
      response: { 200: jobListSchema },
    },
    handler: async (request) => {
      const auth = request.auth as AuthContext;
      const q = request.query;
      const empty = { jobs: [], pagination: { per_page: q.per_page, next_cursor: null, has_more: false } };
      if (q.state === 'ACCEPTED') return empty;
      let query = db.selectFrom('jobs').selectAll().where('tenant', '=', auth.organizationId);
      if (q.state) query = query.where('state', '=', q.state);
      if (q.topic) query = query.where('topic', '=', q.topic);
      if (q.created_after) query = query.where('created_at', '>=', new Date(q.created_after));
      if (q.created_before) query = query.where('created_at', '<', new Date(q.created_before));
      if (q.cursor) {
        const after = decodeCursor(q.cursor, jobCursor);
        query = query.where(sql<boolean>`(created_at, job_id) < (${new Date(after.c)}, ${after.j})`);
      }
      const rows = await query
        .orderBy('created_at', 'desc')
        .orderBy('job_id', 'desc')
        .limit(q.per_page + 1)
        .execute();
      const { items, pagination } = pageOf(rows, q.per_page, (last) => ({
        c: last.created_at.toISOString(),
        j: last.job_id,
      }));
      return { jobs: items.map(toJob), pagination };
    },
  });

  app.route({
    method: 'GET',
    url: '/v1/jobs/:id',
    config: { access: { role: 'viewer', scope: 'jobs:read' } },
    schema: {
      tags: ['jobs'],
      summary: 'Get a job: state, attempts, worker, policy decision and snapshot, progress, timestamps',
      params: jobParamsSchema,
      response: { 200: jobSchema },
    },
    handler: async (request) => {
      const auth = request.auth as AuthContext;
      const job = await requireJob(gateway, auth.organizationId, request.params.id);
      return job.kind === 'recorded' ? toJob(job.row) : acceptedJobView(request.params.id, job.accepted);
    },
  });

  app.route({
    method: 'GET',
    url: '/v1/jobs/:id/result',
    config: { access: { role: 'viewer', scope: 'jobs:read' } },
    schema: {
      tags: ['jobs'],
      summary: 'Get a finished job’s result (dereferences its result pointer)',
      description:
        'While the job is not finished: 409, code 1008, with Retry-After. A result that expired or cannot be read here: 410, code 1009.',
      params: jobParamsSchema,
      response: { 200: jobResultSchema },
    },
    handler: async (request) => {
      const auth = request.auth as AuthContext;
      const job = await requireJob(gateway, auth.organizationId, request.params.id);
      return readJobResult(gateway, request.params.id, job);
    },
  });

  app.route({
    method: 'GET',
    url: '/v1/jobs/:id/events',
    config: { access: { role: 'viewer', scope: 'jobs:read' } },
    schema: {
      tags: ['jobs'],
      summary: 'List a job’s recorded lifecycle transitions, oldest first',
      description: 'Progress updates are not stored as events; the job’s `progress` holds the latest one.',
      params: jobParamsSchema,
      querystring: z.strictObject({ per_page: perPageSchema, cursor: cursorSchema.optional() }),
      response: {
        200: z.object({
          job_id: z.string(),
          events: z.array(storedJobEventSchema),
          pagination: cursorPaginationSchema,
        }),
      },
    },
    handler: async (request) => {
      const auth = request.auth as AuthContext;
      const jobId = request.params.id;
      await requireJob(gateway, auth.organizationId, jobId);
      const after = request.query.cursor ? decodeCursor(request.query.cursor, eventCursor).s : 0;
      const rows = await db
        .selectFrom('job_events')
        .selectAll()
        .where('job_id', '=', jobId)
        .where('tenant', '=', auth.organizationId)
        .where('seq', '>', after)
        .orderBy('seq')
        .limit(request.query.per_page + 1)
        .execute();
      const { items, pagination } = pageOf(rows, request.query.per_page, (last) => ({ s: last.seq }));
      return {
        job_id: jobId,
        events: items.map((e) => ({
          id: String(e.id),
          seq: e.seq,
          from_state: e.from_state,
          to_state: e.to_state,
          reason: e.reason,
          attempt: e.attempt,
          lease_epoch: e.lease_epoch,
          worker_id: e.worker_id,
          at: e.at.toISOString(),
        })),
        pagination,
      };
    },
  });

  app.route({
    method: 'POST',
    url: '/v1/jobs/:id/cancel',
    config: {
      access: { role: 'developer', scope: 'jobs:write' },
      audit: { action: 'job.cancelled', resourceType: 'job' },
    },
    schema: {
      tags: ['jobs'],
      summary: 'Ask a job to stop',
      description:
        'Publishes a CAP JobCancel on sys.job.cancel. A queued job ends CANCELLED at once; a running one is stopped by its worker (or ended CANCELLED after a grace period). Answers 202 with the state at the time of the request; follow the job’s events for the outcome. A finished job: 409, code 6004.',
      params: jobParamsSchema,
      body: cancelJobBodySchema,
      response: {
        202: z.object({
          job_id: z.string(),
          state: jobSchema.shape.state,
          cancel_requested: z.literal(true),
        }),
      },
    },
    handler: async (request, reply) => {
      const auth = request.auth as AuthContext;
      const jobId = request.params.id;
      let job = await requireJob(gateway, auth.organizationId, jobId);
      // Accepted (in JetStream) but not yet recorded: a submit-then-cancel usually lands here. The scheduler records
      // it within milliseconds unless it is behind, so wait for the row rather than refuse the cancel.
      for (const until = Date.now() + CANCEL_WAIT_FOR_RECORD_MS; job.kind === 'accepted' && Date.now() < until; ) {
        await new Promise((r) => setTimeout(r, 25));
        job = await requireJob(gateway, auth.organizationId, jobId);
      }
      if (job.kind === 'accepted') {
        throw new GatewayError(
          'JOB_NOT_YET_RECORDED',
          `Job ${jobId} is accepted but the scheduler has not recorded it within ${CANCEL_WAIT_FOR_RECORD_MS} ms (it is behind); retry the cancel in a moment`,
          { headers: { 'retry-after': '1' } },
        );
      }
      if (isTerminal(job.row.state as JobState)) {
        throw new GatewayError('TASK_ALREADY_COMPLETED', `Job ${jobId} already ended ${job.row.state}`);
      }
      const reason = request.body?.reason ?? `cancelled by ${auth.principalType} ${auth.principalId}`;
      const cancel = create(JobCancelSchema, {
        jobId,
        reason,
        requestedBy: `${auth.principalType}:${auth.principalId}`,
      });
      try {
        gateway.bus.publish(
          Subjects.jobCancel,
          gateway.bus.packet({ case: 'jobCancel', value: cancel }, { traceId: request.id }),
        );
        await gateway.bus.flush(); // the cancel itself, not only a PING ahead of it
      } catch (cause) {
        throw new GatewayError('TASK_CANCEL_FAILED', `The cancel of job ${jobId} could not be sent; retry`, { cause });
      }
      request.audit.details = { reason };
      return reply.code(202).send({ job_id: jobId, state: apiState(job.row.state), cancel_requested: true as const });
    },
  });
};
