import { createHash } from 'node:crypto';
import { clone, create } from '@bufbuild/protobuf';
import { JobMetadataSchema, JobPriority, type JobRequest, JobRequestSchema } from '@capstan/gen/cordum/agent/v1/job_pb';
import type { JobRecord } from './job-record.js';
import { FAIL_OPEN_SNAPSHOT, POLICY_LABEL } from './policy-port.js';

/** Label Capstan puts on compensation jobs: the job they undo. */
export const COMPENSATION_OF_LABEL = 'capstan.compensation_of';
/** Label Capstan puts on jobs re-submitted from the DLQ: the job they retry. */
export const RETRY_OF_LABEL = 'capstan.retry_of';
/**
 * Env keys a dispatch carries: the lease (also in the `Capstan-Lease` header) and the policy decision — the
 * snapshot and rule that allowed the job and, for ALLOW_WITH_CONSTRAINTS, the whole `PolicyConstraints` as
 * protobuf JSON (sandbox, toolchain, diff and redaction limits are the worker's to enforce).
 */
export const DispatchEnv = {
  attempt: 'CAPSTAN_ATTEMPT',
  leaseEpoch: 'CAPSTAN_LEASE_EPOCH',
  policySnapshot: 'CAPSTAN_POLICY_SNAPSHOT',
  policyRule: 'CAPSTAN_POLICY_RULE',
  policyConstraints: 'CAPSTAN_POLICY_CONSTRAINTS',
} as const;

/** The request sent to a worker for the record's current dispatch. */
export function dispatchRequest(r: JobRecord): JobRequest {
  const req = clone(JobRequestSchema, r.request);
  req.env[DispatchEnv.attempt] = String(r.attempt);
  req.env[DispatchEnv.leaseEpoch] = String(r.leaseEpoch);
  if (r.policySnapshot) req.env[DispatchEnv.policySnapshot] = r.policySnapshot;
  if (r.ruleId) req.env[DispatchEnv.policyRule] = r.ruleId;
  if (r.constraints !== null && r.constraints !== undefined)
    req.env[DispatchEnv.policyConstraints] = JSON.stringify(r.constraints);
  if (r.policySnapshot === FAIL_OPEN_SNAPSHOT) req.labels[POLICY_LABEL] = FAIL_OPEN_SNAPSHOT;
  return req;
}

/** Longest job id the scheduler accepts (ids are also NATS subject tokens and database keys). */
export const MAX_JOB_ID_LENGTH = 128;

/**
 * `<jobId><suffix>`, deterministic; when that would pass {@link MAX_JOB_ID_LENGTH}, the job id is cut short and a
 * hash of the whole of it keeps derived ids of different jobs apart (a long id must not make its compensation or
 * retry impossible to create).
 */
function derivedJobId(jobId: string, suffix: string): string {
  const id = `${jobId}${suffix}`;
  if (id.length <= MAX_JOB_ID_LENGTH) return id;
  const hash = createHash('sha256').update(jobId).digest('hex').slice(0, 16);
  return `${jobId.slice(0, MAX_JOB_ID_LENGTH - suffix.length - hash.length - 1)}-${hash}${suffix}`;
}

/** Deterministic id of a job's compensation (so a restarted rollback can't create it twice). */
export function compensationJobId(jobId: string): string {
  return derivedJobId(jobId, '-compensation');
}

/** Deterministic id of the retry of a DLQ entry. */
export function dlqRetryJobId(jobId: string, dlqId: string): string {
  return derivedJobId(jobId, `-r${dlqId}`);
}

/**
 * The compensation job of a succeeded saga step: the step's `compensation` template, empty fields inherited from the
 * step's request, priority CRITICAL, labelled, and with an idempotency key derived from the step.
 */
export function compensationRequest(r: JobRecord): JobRequest | undefined {
  const parent = r.request;
  const c = parent.compensation;
  if (!c) return undefined;
  const meta = clone(JobMetadataSchema, c.meta ?? parent.meta ?? create(JobMetadataSchema));
  meta.idempotencyKey = `compensation:${r.jobId}`;
  return create(JobRequestSchema, {
    jobId: compensationJobId(r.jobId),
    topic: c.topic || parent.topic,
    priority: JobPriority.CRITICAL,
    contextPtr: c.contextPtr || parent.contextPtr,
    adapterId: c.adapterId || parent.adapterId,
    env: { ...parent.env, ...c.env },
    parentJobId: r.jobId,
    workflowId: parent.workflowId,
    stepIndex: parent.stepIndex,
    memoryId: c.memoryId || parent.memoryId,
    tenantId: c.tenantId || parent.tenantId,
    principalId: c.principalId || parent.principalId,
    labels: { ...parent.labels, ...c.labels, [COMPENSATION_OF_LABEL]: r.jobId },
    meta,
    ...((c.contextHints ?? parent.contextHints) ? { contextHints: c.contextHints ?? parent.contextHints } : {}),
    ...((c.budget ?? parent.budget) ? { budget: c.budget ?? parent.budget } : {}),
  });
}

/** A new job that retries a dead-lettered one. */
export function retryRequest(r: JobRecord, dlqId: string): JobRequest {
  const req = clone(JobRequestSchema, r.request);
  req.jobId = dlqRetryJobId(r.jobId, dlqId);
  req.parentJobId = r.jobId;
  req.labels[RETRY_OF_LABEL] = r.jobId;
  if (req.meta?.idempotencyKey) req.meta.idempotencyKey = `${req.meta.idempotencyKey}:retry:${dlqId}`;
  return req;
}
