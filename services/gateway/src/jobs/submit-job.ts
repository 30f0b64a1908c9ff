import { createHash } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { isStreamFullError } from '@capstan/bus';
import {
  ActorType,
  BudgetSchema,
  JobMetadataSchema,
  JobPriority,
  type JobRequest,
  JobRequestSchema,
} from '@capstan/gen/cordum/agent/v1/job_pb';
import { Subjects } from '@capstan/protocol';
import { configure } from 'safe-stable-stringify';
import type { GatewayContext } from '../app/gateway-context.js';
import type { AuthContext } from '../auth/auth-context.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { AcceptedJob } from './accepted-jobs.js';
import { jobIdFor } from './job-ids.js';
import { checkInputPointer, type PreparedInput, prepareInput, storeInput } from './job-input.js';
import type { SubmitJobBody } from './job-schemas.js';
import { apiState } from './job-view.js';
import { backlogFullError } from './submit-admission.js';

/** How long the JetStream ack of a submit may take before the call fails with 503. */
export const SUBMIT_ACK_TIMEOUT_MS = 5000;

const canonicalJson = configure({ deterministic: true, bigint: false, circularValue: TypeError });

const PRIORITIES = {
  interactive: JobPriority.INTERACTIVE,
  batch: JobPriority.BATCH,
  critical: JobPriority.CRITICAL,
} as const;

/** What a submit produced. */
export interface SubmitOutcome {
  jobId: string;
  traceId: string;
  topic: string;
  /** `ACCEPTED` for a new submit; the recorded state when an idempotent replay found the job in Postgres. */
  state: ReturnType<typeof apiState>;
  inputPtr: string | null;
  /** True when the `Idempotency-Key` matched an earlier submit. */
  replay: boolean;
  acceptedAt: Date;
}

function keyReused(): GatewayError {
  return new GatewayError(
    'IDEMPOTENCY_KEY_REUSED',
    'This Idempotency-Key was used for a different request; use a new key for a new job',
    { details: [{ field: 'idempotency-key', message: 'already used with a different body', location: 'headers' }] },
  );
}

/** Fingerprint of the parts of a submit that define the job (order-independent). */
export function requestHash(body: SubmitJobBody): string {
  return createHash('sha256')
    .update(canonicalJson(body) ?? '')
    .digest('hex');
}

/** The CAP `JobRequest` for a submit; tenant, actor and idempotency key come from the request, never the body. */
export function buildJobRequest(
  body: SubmitJobBody,
  jobId: string,
  contextPtr: string,
  auth: AuthContext,
  idempotencyKey: string | undefined,
): JobRequest {
  const meta = create(JobMetadataSchema, {
    tenantId: auth.organizationId,
    actorId: auth.principalId,
    actorType: auth.principalType === 'user' ? ActorType.HUMAN : ActorType.SERVICE,
    idempotencyKey: idempotencyKey ?? '',
    capability: body.meta?.capability ?? '',
    riskTags: body.meta?.risk_tags ?? [],
    requires: body.meta?.requires ?? [],
    packId: body.meta?.pack_id ?? '',
    labels: { ...body.meta?.labels },
  });
  const budget = body.budget;
  return create(JobRequestSchema, {
    jobId,
    topic: body.topic,
    priority: body.priority ? PRIORITIES[body.priority] : JobPriority.UNSPECIFIED,
    contextPtr,
    tenantId: auth.organizationId,
    principalId: auth.principalId,
    labels: { ...body.labels },
    meta,
    ...(budget
      ? {
          budget: create(BudgetSchema, {
            deadlineMs: BigInt(budget.deadline_ms ?? 0),
            maxInputTokens: BigInt(budget.max_input_tokens ?? 0),
            maxOutputTokens: BigInt(budget.max_output_tokens ?? 0),
            maxTotalTokens: BigInt(budget.max_total_tokens ?? 0),
          }),
        }
      : {}),
  });
}

/**
 * Submits a job the way a CAP client does (`@capstan/worker` `createClient().submit`): the input goes to the
 * pointer store first, then `BusPacket{JobRequest}` is published on `sys.job.submit` and the JetStream ack awaited
 * (`msgId` = job id, so the stream dedupes retries). When this resolves the submit is durable: the stream holds it
 * until a scheduler has recorded the job in Postgres (see docs/gateway.md, "What accepted means").
 *
 * With an `Idempotency-Key`: the key is looked up in Postgres first (a recorded job answers at once); otherwise
 * the derived job id is claimed in Redis. A replay with the same request re-runs the (idempotent) store-and-publish
 * steps — completing a submit whose first attempt died half-way — and returns the same job id; a different request
 * under the same key is refused with 409 (code 1012).
 * @throws {GatewayError} 400/413 for bad input, 409 for a reused key, 429 (code 1015) when the submit backlog is full,
 * 503 when Redis or JetStream are unavailable.
 */
export async function submitJob(
  gateway: GatewayContext,
  auth: AuthContext,
  body: SubmitJobBody,
  options: { traceId: string; idempotencyKey: string | undefined },
): Promise<SubmitOutcome> {
  const { config } = gateway;
  const tenant = auth.organizationId;
  const key = options.idempotencyKey;
  const input: PreparedInput = prepareInput(body, config.jobInputMaxBytes);

  const jobId = jobIdFor(tenant, key);
  const fingerprint = requestHash(body);
  if (key !== undefined) {
    // Within the accepted-record window the key's first request is known: a different body is a conflict.
    const earlier = await gateway.acceptedJobs.get(jobId).catch(() => undefined);
    if (earlier && earlier.requestHash !== fingerprint) throw keyReused();
    const recorded = await gateway.db
      .selectFrom('jobs')
      .select(['job_id', 'trace_id', 'topic', 'state', 'created_at'])
      .where('tenant', '=', tenant)
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
    if (recorded) {
      return {
        jobId: recorded.job_id,
        traceId: recorded.trace_id,
        topic: recorded.topic,
        state: apiState(recorded.state),
        inputPtr: null,
        replay: true,
        acceptedAt: recorded.created_at,
      };
    }
  }

  const acceptedAt = Date.now();
  const claim = await gateway.acceptedJobs
    .claim(jobId, { tenant, topic: body.topic, traceId: options.traceId, requestHash: fingerprint, acceptedAt })
    .catch((cause: unknown) => {
      throw new GatewayError('SERVICE_UNAVAILABLE', 'Cannot accept the job: Redis is unavailable; retry later', {
        cause,
        headers: { 'retry-after': '1' },
      });
    });
  let original: AcceptedJob | undefined;
  if (!claim.claimed) {
    original = claim.existing;
    if (original && original.requestHash !== fingerprint) throw keyReused();
  }
  const traceId = original?.traceId || options.traceId;
  try {
    if (input.kind === 'pointer') await checkInputPointer(gateway, tenant, input.uri);
    const contextPtr = await storeInput(gateway, jobId, input, config.jobInputTtlMs);
    const request = buildJobRequest(body, jobId, contextPtr, auth, key);
    try {
      await gateway.bus.publishDurable(
        Subjects.jobSubmit,
        gateway.bus.packet({ case: 'jobRequest', value: request }, { traceId }),
        { msgId: jobId, timeoutMs: SUBMIT_ACK_TIMEOUT_MS },
      );
    } catch (cause) {
      if (isStreamFullError(cause)) {
        // Nothing was accepted: a first attempt's inline input is garbage now (a replay's may belong to the
        // original submit, so it stays).
        if (claim.claimed && input.kind === 'inline') await gateway.pointers.delete(contextPtr).catch(() => {});
        gateway.submitLimiter.backlogFull();
        throw backlogFullError(jobId, cause);
      }
      throw new GatewayError(
        'SERVICE_UNAVAILABLE',
        `The submit of job ${jobId} was not acknowledged by the ${Subjects.jobSubmit} stream; nothing was accepted. Retry (with an Idempotency-Key to be safe)`,
        { cause, headers: { 'retry-after': '1' } },
      );
    }
    return {
      jobId,
      traceId,
      topic: body.topic,
      state: 'ACCEPTED',
      inputPtr: contextPtr === '' ? null : contextPtr,
      replay: !claim.claimed,
      acceptedAt: new Date(original?.acceptedAt ?? acceptedAt),
    };
  } catch (err) {
    // Nothing durable happened for a first attempt: don't leave an ACCEPTED record (or a claimed key) behind.
    if (claim.claimed) await gateway.acceptedJobs.forget(jobId).catch(() => {});
    throw err;
  }
}
