import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { type Bus, isStreamFullError } from '@capstan/bus';
import {
  BudgetSchema,
  type CompensationSchema,
  JobCancelSchema,
  JobMetadataSchema,
  JobPriority,
  JobRequestSchema,
} from '@capstan/gen/cordum/agent/v1/job_pb';
import { contextPointer, type PointerStore } from '@capstan/pointers';
import { isSubjectToken, jobSubject, newJobId, newTraceId, Subjects } from '@capstan/protocol';
import { type Logger, pino } from 'pino';
import { ClientArgumentError, SubmitError, SubmitRefusedError } from './errors.js';
import { DEFAULT_WAIT_TIMEOUT_MS, type JobResultView, type WaitOptions, watchJob } from './watch-job.js';

/** Options for {@link createClient}. */
export interface ClientOptions {
  /** A connected bus; the client never closes it. */
  bus: Bus;
  /** Where inputs are stored (`redis://ctx:<job_id>`) and outputs read from; the client never closes it. */
  pointers: PointerStore;
  /** @default the bus's logger */
  logger?: Logger;
}

/** Priority names accepted by {@link SubmitOptions.priority}. */
export type PriorityName = 'interactive' | 'batch' | 'critical';

/** Token and time limits of a job. */
export interface SubmitBudget {
  /** Deadline: ms since the epoch, or (values below 1e12) a duration in ms counted by the worker from receipt. */
  deadlineMs?: number;
  maxInputTokens?: number;
  maxOutputTokens?: number;
  maxTotalTokens?: number;
}

/** What to submit. */
export interface SubmitOptions {
  /** Job topic, a `job.*` subject (e.g. `job.echo`). */
  topic: string;
  /** Job input, stored as JSON at `redis://ctx:<job_id>`; omit for jobs without input (no `context_ptr`). */
  input?: unknown;
  /** Job id; one NATS subject token (events are published per job id). @default a new UUID */
  jobId?: string;
  /** Tenant (`tenant_id` and `meta.tenant_id`). @default none: the scheduler's default tenant */
  tenant?: string;
  /** @default unspecified (the scheduler's default) */
  priority?: JobPriority | PriorityName;
  /** Routing labels. */
  labels?: Readonly<Record<string, string>>;
  /** CAP job metadata (actor, capability, risk tags...); `tenant` and `idempotencyKey` fill their fields when set. */
  meta?: MessageInitShape<typeof JobMetadataSchema>;
  /** The scheduler answers a second submit with the same key (per tenant) with a DUPLICATE event, not a new job. */
  idempotencyKey?: string;
  /** Token and time limits. */
  budget?: SubmitBudget;
  /** Inverse action run if a later workflow step fails fatally. */
  compensation?: MessageInitShape<typeof CompensationSchema>;
  workflowId?: string;
  stepIndex?: number;
  /** @default a new trace id */
  traceId?: string;
}

/** A submitted job. */
export interface SubmitReceipt {
  jobId: string;
  traceId: string;
}

/** Options of {@link Client.cancel}. */
export interface CancelOptions {
  /** `JobCancel.requested_by`. @default the bus's sender id */
  requestedBy?: string;
}

/** Submits jobs to a Capstan scheduler and waits for their outcome. */
export interface Client {
  /**
   * Stores `input` at `redis://ctx:<job_id>`, then publishes the `JobRequest` on `sys.job.submit` and waits for the
   * JetStream ack: once this resolves the submit is durable. The stream dedupes on the job id, so retrying a failed
   * submit with the same `jobId` is safe.
   * @throws {ClientArgumentError} on invalid options; {@link SubmitRefusedError} (a {@link SubmitError}, code
   * `RESOURCE_EXHAUSTED`) when the submit stream is full — Capstan is at capacity, retry later; {@link SubmitError}
   * when the input or the submit cannot be stored.
   */
  submit(options: SubmitOptions): Promise<SubmitReceipt>;
  /**
   * Waits until the job is terminal (SUCCEEDED, FAILED, CANCELLED, DENIED, TIMEOUT) or REJECTED, following a
   * DUPLICATE event to the original job, and reads the output of a successful job.
   * @throws {WaitForResultTimeoutError} after `timeoutMs`; {@link ResultReadError} when the output cannot be read.
   */
  waitForResult<TOutput = unknown>(jobId: string, options?: WaitOptions): Promise<JobResultView<TOutput>>;
  /**
   * Subscribes to the job's events, submits it, and waits for its outcome (no event can be missed). When `signal`
   * aborts (or `timeoutMs` passes) before the submit, nothing is submitted.
   */
  submitAndWait<TOutput = unknown>(
    options: SubmitOptions,
    waitOptions?: WaitOptions,
  ): Promise<JobResultView<TOutput> & { traceId: string }>;
  /** Asks for a job to stop: publishes `JobCancel` on `sys.job.cancel` and flushes it to the server. */
  cancel(jobId: string, reason?: string, options?: CancelOptions): Promise<void>;
}

const PRIORITIES: Readonly<Record<PriorityName, JobPriority>> = {
  interactive: JobPriority.INTERACTIVE,
  batch: JobPriority.BATCH,
  critical: JobPriority.CRITICAL,
};

/** Creates a {@link Client} over a bus and a pointer store. */
export function createClient(options: ClientOptions): Client {
  if (typeof options !== 'object' || options === null)
    throw new ClientArgumentError('createClient: expected an options object { bus, pointers }');
  const { bus, pointers } = options;
  if (typeof bus !== 'object' || bus === null || typeof bus.publishDurable !== 'function') {
    throw new ClientArgumentError('createClient bus: expected a Bus from createBus() of @capstan/bus');
  }
  if (
    typeof pointers !== 'object' ||
    pointers === null ||
    typeof pointers.putJson !== 'function' ||
    typeof pointers.getJson !== 'function'
  ) {
    throw new ClientArgumentError(
      'createClient pointers: expected a PointerStore from createPointerStore() of @capstan/pointers',
    );
  }
  const logger = options.logger ?? bus.logger ?? pino({ level: 'silent' });
  const deps = { bus, pointers, logger };

  const submit = async (submitOptions: SubmitOptions): Promise<SubmitReceipt> => {
    const { request, jobId, traceId } = buildRequest(submitOptions);
    if (submitOptions.input !== undefined) {
      try {
        await pointers.putJson(request.contextPtr, submitOptions.input);
      } catch (err) {
        throw new SubmitError(
          `cannot store the input of job ${jobId} at ${request.contextPtr}: ${(err as Error).message}`,
          jobId,
          { cause: err },
        );
      }
    }
    try {
      await bus.publishDurable(Subjects.jobSubmit, bus.packet({ case: 'jobRequest', value: request }, { traceId }), {
        msgId: jobId,
      });
    } catch (err) {
      if (isStreamFullError(err)) {
        // Nothing was accepted, so the input stored above is garbage — when the job id is new. A caller-chosen id
        // may be a retry of a submit accepted long ago (beyond the stream's dedupe window) whose job still needs it.
        if (submitOptions.jobId === undefined && request.contextPtr !== '')
          await pointers.delete(request.contextPtr).catch(() => {});
        throw new SubmitRefusedError(
          `submit of job ${jobId} refused (RESOURCE_EXHAUSTED): the ${Subjects.jobSubmit} stream is full — the schedulers' backlog reached its bound (CAPSTAN_SUBMIT_BACKLOG_MAX), so Capstan is at capacity. Nothing was accepted; retry later with backoff, with the same jobId`,
          jobId,
          { cause: err },
        );
      }
      // No responder: the stream is missing, or (in a JetStream cluster) its leader is being elected right now.
      const hint =
        (err as Error).name === 'JetStreamNotEnabled'
          ? `no JetStream server answered for ${Subjects.jobSubmit}: the stream does not exist (start a scheduler, or bus.ensureStreams()) or its cluster is electing a new leader (retry in a few seconds with the same jobId)`
          : `${(err as Error).message}. Nothing may have been accepted: retry with the same jobId (a duplicate is dropped); is the scheduler's JetStream stream there (bus.ensureStreams())?`;
      throw new SubmitError(
        `submit of job ${jobId} was not acknowledged by the ${Subjects.jobSubmit} stream: ${hint}`,
        jobId,
        { cause: err },
      );
    }
    logger.debug({ job_id: jobId, trace_id: traceId, topic: request.topic }, 'job submitted');
    return { jobId, traceId };
  };

  const waitTimeout = (waitOptions: WaitOptions): number => {
    const timeoutMs = waitOptions.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
    if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs <= 0) {
      throw new ClientArgumentError(
        `waitForResult timeoutMs: got ${String(timeoutMs)}; expected a positive integer number of ms`,
      );
    }
    return timeoutMs;
  };

  return {
    submit,

    async waitForResult<TOutput = unknown>(jobId: string, waitOptions: WaitOptions = {}) {
      checkJobId(jobId, 'waitForResult jobId');
      return watchJob<TOutput>(deps, jobId, waitTimeout(waitOptions), waitOptions).result;
    },

    async submitAndWait<TOutput = unknown>(submitOptions: SubmitOptions, waitOptions: WaitOptions = {}) {
      const timeoutMs = waitTimeout(waitOptions);
      const jobId = submitOptions.jobId ?? newJobId();
      checkJobId(jobId, 'submit jobId');
      const watch = watchJob<TOutput>(deps, jobId, timeoutMs, waitOptions);
      // Rejects when the caller aborted (or the wait timed out) before the subscription was in place: nothing is
      // submitted then.
      await watch.ready;
      let receipt: SubmitReceipt;
      try {
        receipt = await submit({ ...submitOptions, jobId });
      } catch (err) {
        watch.stop(err);
        throw err;
      }
      return { ...(await watch.result), traceId: receipt.traceId };
    },

    async cancel(jobId, reason = '', cancelOptions = {}) {
      checkJobId(jobId, 'cancel jobId');
      const value = create(JobCancelSchema, { jobId, reason, requestedBy: cancelOptions.requestedBy ?? bus.senderId });
      bus.publish(Subjects.jobCancel, bus.packet({ case: 'jobCancel', value }));
      await bus.nc.flush();
    },
  };
}

/** Validates submit options and builds the CAP `JobRequest`. */
function buildRequest(o: SubmitOptions) {
  if (typeof o !== 'object' || o === null)
    throw new ClientArgumentError('submit: expected an options object { topic, input?, ... }');
  try {
    jobSubject(o.topic);
  } catch (err) {
    throw new ClientArgumentError(`submit topic: ${(err as Error).message}`, { cause: err });
  }
  const jobId = o.jobId ?? newJobId();
  checkJobId(jobId, 'submit jobId');
  const traceId = o.traceId ?? newTraceId();
  if (typeof traceId !== 'string' || traceId === '')
    throw new ClientArgumentError('submit traceId: expected a non-empty string');
  const priority = resolvePriority(o.priority);
  if (o.stepIndex !== undefined && (!Number.isInteger(o.stepIndex) || o.stepIndex < 0 || o.stepIndex > 2 ** 31 - 1)) {
    throw new ClientArgumentError(`submit stepIndex: got ${String(o.stepIndex)}; expected a non-negative integer`);
  }
  const meta = create(JobMetadataSchema, o.meta ?? {});
  if (o.tenant !== undefined) meta.tenantId = requireText(o.tenant, 'submit tenant');
  if (o.idempotencyKey !== undefined) meta.idempotencyKey = requireText(o.idempotencyKey, 'submit idempotencyKey');
  const request = create(JobRequestSchema, {
    jobId,
    topic: o.topic,
    priority,
    contextPtr: o.input === undefined ? '' : contextPointer(jobId),
    tenantId: o.tenant ?? meta.tenantId,
    labels: { ...checkLabels(o.labels) },
    meta,
    workflowId: o.workflowId ?? '',
    stepIndex: o.stepIndex ?? 0,
    ...(o.budget ? { budget: buildBudget(o.budget) } : {}),
    ...(o.compensation ? { compensation: o.compensation } : {}),
  });
  return { request, jobId, traceId };
}

function resolvePriority(priority: SubmitOptions['priority']): JobPriority {
  if (priority === undefined) return JobPriority.UNSPECIFIED;
  if (typeof priority === 'string' && Object.hasOwn(PRIORITIES, priority)) return PRIORITIES[priority];
  if (typeof priority === 'number' && JobPriority[priority] !== undefined) return priority;
  throw new ClientArgumentError(
    `submit priority: got ${JSON.stringify(priority)}; expected "interactive", "batch", "critical" or a JobPriority value`,
  );
}

function buildBudget(budget: SubmitBudget) {
  const field = (value: number | undefined, name: string): bigint => {
    if (value === undefined) return 0n;
    if (!Number.isSafeInteger(value) || value < 0)
      throw new ClientArgumentError(`submit budget.${name}: got ${String(value)}; expected a non-negative integer`);
    return BigInt(value);
  };
  return create(BudgetSchema, {
    deadlineMs: field(budget.deadlineMs, 'deadlineMs'),
    maxInputTokens: field(budget.maxInputTokens, 'maxInputTokens'),
    maxOutputTokens: field(budget.maxOutputTokens, 'maxOutputTokens'),
    maxTotalTokens: field(budget.maxTotalTokens, 'maxTotalTokens'),
  });
}

function checkLabels(labels: SubmitOptions['labels']): Readonly<Record<string, string>> {
  if (labels === undefined) return {};
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels))
    throw new ClientArgumentError('submit labels: expected an object of string values');
  for (const [key, value] of Object.entries(labels)) {
    if (typeof value !== 'string')
      throw new ClientArgumentError(`submit labels.${key}: got ${JSON.stringify(value)}; expected a string`);
  }
  return labels;
}

function checkJobId(jobId: string, what: string): void {
  if (typeof jobId !== 'string' || !isSubjectToken(jobId)) {
    throw new ClientArgumentError(
      `${what}: got ${JSON.stringify(jobId)}; expected one NATS subject token of letters, digits, "_", "-" or ":" (e.g. a UUID)`,
    );
  }
}

function requireText(value: string, what: string): string {
  if (typeof value !== 'string' || value === '') throw new ClientArgumentError(`${what}: expected a non-empty string`);
  return value;
}
