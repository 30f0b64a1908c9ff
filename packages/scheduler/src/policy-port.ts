import { create } from '@bufbuild/protobuf';
import type { JobRequest } from '@capstan/gen/cordum/agent/v1/job_pb';
import {
  DecisionType,
  type PolicyCheckRequest,
  PolicyCheckRequestSchema,
  type PolicyCheckResponse,
  PolicyCheckResponseSchema,
} from '@capstan/gen/cordum/agent/v1/safety_pb';

/**
 * The scheduler's view of the safety kernel: one Check per job before its first dispatch. The safety-kernel
 * client implements it; until one is configured, {@link allowAllPolicy} records an explicit ALLOW tied to the
 * `allow-all` snapshot, so every dispatch still has a recorded decision (invariant I3).
 */
export interface PolicyPort {
  /**
   * Judges one job. A rejection means "the kernel could not be asked": the job waits (or fails open) — except an
   * error with `permanent === true` (see {@link isPermanentPolicyRefusal}), which means the kernel answered that
   * this request can never be judged (e.g. INVALID_ARGUMENT): the job is DENIED instead of waiting forever.
   */
  check(request: PolicyCheckRequest, opts: { signal: AbortSignal }): Promise<PolicyCheckResponse>;
  /**
   * The snapshot the kernel runs now, when the port knows it ('' or undefined otherwise). An approval is honoured
   * only while its snapshot is still the active one.
   */
  activeSnapshot?(): string | undefined;
}

/** Snapshot and rule id recorded for jobs allowed because the kernel was unreachable and fail-open is on. */
export const FAIL_OPEN_SNAPSHOT = 'fail-open';

/** Label put on the dispatched request of a job that was allowed by fail-open (value {@link FAIL_OPEN_SNAPSHOT}). */
export const POLICY_LABEL = 'capstan.policy';

/** Snapshot id recorded by {@link allowAllPolicy}. */
export const ALLOW_ALL_SNAPSHOT = 'allow-all';

/** A policy that allows everything (development default until a safety kernel is configured). */
export const allowAllPolicy: PolicyPort = {
  async check() {
    return create(PolicyCheckResponseSchema, {
      decision: DecisionType.ALLOW,
      reason: 'no safety kernel configured: allow-all policy',
      policySnapshot: ALLOW_ALL_SNAPSHOT,
      ruleId: 'allow-all',
    });
  },
};

/** The PolicyCheckRequest for a job request. */
export function policyRequestFor(req: JobRequest, tenant: string): PolicyCheckRequest {
  return create(PolicyCheckRequestSchema, {
    jobId: req.jobId,
    topic: req.topic,
    tenant,
    priority: req.priority,
    principalId: req.principalId,
    labels: { ...req.labels },
    memoryId: req.memoryId,
    ...(req.budget ? { budget: req.budget } : {}),
    ...(req.meta ? { meta: req.meta } : {}),
  });
}

/** True for a PolicyPort rejection that says "this request will never pass" (the job is denied, not held). */
export function isPermanentPolicyRefusal(err: Error): boolean {
  return (err as { permanent?: unknown }).permanent === true;
}
