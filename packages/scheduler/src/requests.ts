import { clone, create } from '@bufbuild/protobuf';
import { JobMetadataSchema, JobPriority, type JobRequest, JobRequestSchema } from '@capstan/gen/cordum/agent/v1/job_pb';
import type { JobRecord } from './job-record.js';

/** Label Capstan puts on compensation jobs: the job they undo. */
export const COMPENSATION_OF_LABEL = 'capstan.compensation_of';
/** Label Capstan puts on jobs re-submitted from the DLQ: the job they retry. */
export const RETRY_OF_LABEL = 'capstan.retry_of';
/** Env keys every dispatch carries (the same lease is in the `Capstan-Lease` header). */
export const DispatchEnv = { attempt: 'CAPSTAN_ATTEMPT', leaseEpoch: 'CAPSTAN_LEASE_EPOCH' } as const;

/** The request sent to a worker for the record's current dispatch. */
export function dispatchRequest(r: JobRecord): JobRequest {
  const req = clone(JobRequestSchema, r.request);
  req.env[DispatchEnv.attempt] = String(r.attempt);
  req.env[DispatchEnv.leaseEpoch] = String(r.leaseEpoch);
  return req;
}

/** Deterministic id of a job's compensation (so a restarted rollback can't create it twice). */
export function compensationJobId(jobId: string): string {
  return `${jobId}-compensation`;
}

/** Deterministic id of the retry of a DLQ entry. */
export function dlqRetryJobId(jobId: string, dlqId: string): string {
  return `${jobId}-r${dlqId}`;
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
