import { JobState } from '@capstan/jobs';
import { isValidSubject, JOB_SUBJECT_PREFIX } from '@capstan/protocol';
import { z } from 'zod';
import { cursorPaginationSchema } from '../http/pagination.js';
import { whenPresent } from '../http/schema-messages.js';

/**
 * Job ids: what the scheduler accepts (1–128 of `A-Z a-z 0-9 _ - :`, one NATS subject token). Anything else —
 * `..`, `/`, `%2F`, spaces — is a 400 naming the `id` parameter, never a lookup.
 */
export const jobIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_:-]{1,128}$/, 'not a job id: 1-128 letters, digits, _ - : only');

/** Path parameters of `/v1/jobs/:id…`. */
export const jobParamsSchema = z.strictObject({ id: jobIdSchema });

/** Lifecycle states, plus `ACCEPTED`: submitted and JetStream-acked, not yet recorded by the scheduler. */
export const JOB_STATES = ['ACCEPTED', ...Object.values(JobState)] as const;

/** A job state as the API reports it. */
export type ApiJobState = (typeof JOB_STATES)[number];

/** Schema of a job state. */
export const jobStateSchema = z.enum(JOB_STATES, {
  error: whenPresent(`unknown state; expected one of ${JOB_STATES.join(', ')}`),
});

/** Priority names of the API (CAP `JobPriority`). */
export const PRIORITY_NAMES = ['unspecified', 'interactive', 'batch', 'critical'] as const;

/** A topic: a concrete NATS subject starting with `job.` (CAP workers take jobs on the topic itself). */
export const topicSchema = z
  .string()
  .max(256)
  .refine((topic) => topic.startsWith(JOB_SUBJECT_PREFIX) && isValidSubject(topic), {
    message:
      'not a job topic: expected a NATS subject starting with "job." made of [A-Za-z0-9_-:] tokens, e.g. job.echo',
  });

/** Prefix of labels Capstan sets itself (retries, compensations, policy); clients may not set them. */
export const RESERVED_LABEL_PREFIX = 'capstan.';

const labelsSchema = z
  .record(
    z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$/, 'label keys: letters, digits, _ . : / - only, at most 128')
      .refine(
        (key) => !key.startsWith(RESERVED_LABEL_PREFIX),
        `labels starting with "${RESERVED_LABEL_PREFIX}" are reserved`,
      ),
    z.string().max(1024),
  )
  .refine((labels) => Object.keys(labels).length <= 64, 'at most 64 labels');

const tagListSchema = z.array(z.string().min(1).max(128)).max(32);
const tokenCount = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** Body of `POST /v1/jobs`. */
export const submitJobBodySchema = z
  .strictObject({
    topic: topicSchema.describe('Job topic, e.g. job.echo'),
    input: z
      .unknown()
      .optional()
      .describe(
        'Inline input, any JSON value (send text as a JSON string); stored as JSON at redis://ctx:<job_id>, where CAP workers read it',
      ),
    input_ptr: z
      .string()
      .min(1)
      .max(2048)
      .optional()
      .describe(
        'An existing pointer to use as the input: redis://ctx:<job_id> or redis://res:<job_id> of a job of your organization',
      ),
    priority: z.enum(['interactive', 'batch', 'critical']).optional(),
    labels: labelsSchema.optional().describe('Routing labels (e.g. placement.region); keys "capstan.*" are reserved'),
    meta: z
      .strictObject({
        capability: z.string().max(128).optional(),
        risk_tags: tagListSchema.optional(),
        requires: tagListSchema.optional(),
        pack_id: z.string().max(128).optional(),
        labels: labelsSchema.optional(),
      })
      .optional()
      .describe('CAP job metadata seen by policy; tenant, actor and idempotency key come from the request itself'),
    budget: z
      .strictObject({
        deadline_ms: tokenCount
          .optional()
          .describe('CAP semantics: ms since the epoch, or (below 1e12) a duration counted from acceptance'),
        max_input_tokens: tokenCount.optional(),
        max_output_tokens: tokenCount.optional(),
        max_total_tokens: tokenCount.optional(),
      })
      .optional(),
  })
  .refine((body) => body.input === undefined || body.input_ptr === undefined, {
    message: 'send either input or input_ptr, not both',
    path: ['input_ptr'],
  });

/** The submit body after validation. */
export type SubmitJobBody = z.infer<typeof submitJobBodySchema>;

/** Headers of `POST /v1/jobs`. */
export const submitJobHeadersSchema = z.object({
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/, '1-255 printable ASCII characters without spaces')
    .optional()
    .describe('Resubmitting with the same key returns the same job (per organization)'),
});

/** Answer of `POST /v1/jobs`. */
export const submitJobResponseSchema = z.object({
  job_id: z.string(),
  trace_id: z
    .string()
    .describe('CAP trace id of the job (the request’s trace id, or the original submit’s on a replay)'),
  state: jobStateSchema.describe('ACCEPTED for a new submit; the current state on an idempotent replay'),
  topic: z.string(),
  input_ptr: z.string().nullable(),
  idempotent_replay: z.boolean().describe('true when the Idempotency-Key matched an earlier submit'),
  accepted_at: z.string(),
});

/** A job as the API returns it. */
export const jobSchema = z
  .object({
    job_id: z.string(),
    topic: z.string(),
    state: jobStateSchema,
    priority: z.enum(PRIORITY_NAMES),
    attempt: z.number().int().describe('Dispatch attempts so far'),
    max_retries: z.number().int(),
    worker_id: z.string().nullable(),
    trace_id: z.string(),
    idempotency_key: z.string().nullable(),
    labels: z.record(z.string(), z.string()),
    input_ptr: z.string().nullable(),
    result_ptr: z.string().nullable(),
    artifact_ptrs: z.array(z.string()),
    decision: z
      .object({
        decision: z
          .string()
          .describe('ALLOW, ALLOW_WITH_CONSTRAINTS, DENY, REQUIRE_HUMAN, THROTTLE (empty while pending)'),
        reason: z.string(),
        policy_snapshot: z.string(),
        rule_id: z.string(),
        approval_ref: z.string(),
        constraints: z.unknown(),
      })
      .nullable()
      .describe('The policy decision and the snapshot it was made under; null before the first Check'),
    progress: z.object({ percent: z.number().int(), message: z.string() }),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    wait_reason: z.string().nullable().describe('Why a SCHEDULED/RETRYING/PENDING job is waiting, if it is'),
    dlq_reason: z.string().nullable(),
    cancel_requested: z.boolean(),
    parent_job_id: z.string().nullable(),
    workflow_id: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
    dispatched_at: z.string().nullable(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    deadline_at: z.string().nullable(),
  })
  .meta({ id: 'Job' });

/** A job view. */
export type JobView = z.infer<typeof jobSchema>;

/** Query of `GET /v1/jobs`. */
export const listJobsQuerySchema = z.strictObject({
  state: jobStateSchema.optional(),
  topic: topicSchema.optional(),
  created_after: z.iso.datetime({ offset: true }).optional().describe('ISO 8601; jobs created at or after'),
  created_before: z.iso.datetime({ offset: true }).optional().describe('ISO 8601; jobs created before'),
});

/** Answer of `GET /v1/jobs`. */
export const jobListSchema = z.object({ jobs: z.array(jobSchema), pagination: cursorPaginationSchema });

/** One stored lifecycle transition (`job_events`). */
export const storedJobEventSchema = z
  .object({
    id: z.string().describe('Event id (tenant-wide order); usable as a WebSocket jobs:* resume cursor'),
    seq: z.number().int().describe('The job’s version after the transition (per-job order; SSE Last-Event-ID)'),
    from_state: z.string(),
    to_state: z.string(),
    reason: z.string(),
    attempt: z.number().int(),
    lease_epoch: z.number().int(),
    worker_id: z.string(),
    at: z.string(),
  })
  .meta({ id: 'JobTransition' });

/** Answer of `GET /v1/jobs/:id/result`. */
export const jobResultSchema = z.object({
  job_id: z.string(),
  state: jobStateSchema,
  result_ptr: z.string().nullable(),
  content_type: z.string().nullable(),
  size: z.number().int().nullable(),
  output: z.unknown().describe('The result parsed as JSON, when it is JSON'),
  output_text: z.string().nullable().describe('The result as text, when it is UTF-8 but not JSON'),
  output_base64: z.string().nullable().describe('The result bytes, when they are not UTF-8'),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
});

/** Body of `POST /v1/jobs/:id/cancel` (optional). */
export const cancelJobBodySchema = z
  .strictObject({ reason: z.string().max(1024).optional().describe('Recorded as the job’s error message') })
  .nullish();
