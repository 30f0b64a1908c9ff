import { type JsonValue, toJson } from '@bufbuild/protobuf';
import { type PolicyConstraints, PolicyConstraintsSchema } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { policyRequestHash } from '@capstan/protocol';
import type { JobRecord } from './job-record.js';
import { policyRequestFor } from './policy-port.js';
import type { ApprovalRecord } from './policy-store.js';

/** `wait_reason` values of jobs held by the policy gate (worker waits use the routing reasons). */
export const PolicyWaitReason = {
  /** PENDING: the kernel could not be asked (timeout, unreachable, breaker open); re-checked with backoff. */
  unavailable: 'policy_unavailable',
  /** PENDING: the kernel said THROTTLE; re-checked later. */
  throttled: 'throttled',
  /** APPROVAL_REQUIRED: parked until a human decides (or the approval expires). */
  approval: 'approval',
  /** SCHEDULED/RETRYING: the tenant already runs `max_concurrent_jobs` jobs. */
  tenantConcurrency: 'tenant_concurrency',
} as const;

/** How a decision's constraints are kept on the job (`jobs.constraints`, jsonb) and handed to the worker. */
export function constraintsRecord(c: PolicyConstraints): JsonValue {
  return toJson(PolicyConstraintsSchema, c);
}

/** The tenant concurrency limit a job carries (`budgets.max_concurrent_jobs`); 0 = none. */
export function tenantConcurrencyLimit(constraints: unknown): number {
  if (constraints === null || typeof constraints !== 'object') return 0;
  const n = (constraints as { budgets?: { maxConcurrentJobs?: unknown } }).budgets?.maxConcurrentJobs;
  return typeof n === 'number' && n > 0 ? n : 0;
}

/**
 * Why an APPROVED approval no longer covers the job, or undefined when it does: it must be bound to the hash of
 * the job's current PolicyCheckRequest and to the snapshot that asked for it, and that snapshot must still be the
 * active one (when the active one is known).
 */
export function approvalMismatch(job: JobRecord, approval: ApprovalRecord, activeSnapshot: string): string | undefined {
  if (approval.jobId !== job.jobId) return `the approval belongs to job ${approval.jobId}`;
  const hash = policyRequestHash(policyRequestFor(job.request, job.tenant));
  if (approval.requestHash !== hash) return 'the approved request differs from the job (request hash mismatch)';
  if (approval.policySnapshot !== job.policySnapshot) {
    return `the approval is for policy snapshot ${approval.policySnapshot}, the job was judged under ${job.policySnapshot}`;
  }
  if (activeSnapshot && activeSnapshot !== approval.policySnapshot) {
    return `policy snapshot ${activeSnapshot} is active now, the approval was given under ${approval.policySnapshot}`;
  }
  return undefined;
}

/** A wait that grows with how long the job has been waiting, within [min, max]. */
export function growingDelay(waitingSince: number, now: number, minMs: number, maxMs: number): number {
  return Math.min(maxMs, Math.max(minMs, now - waitingSince));
}
