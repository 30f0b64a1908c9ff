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
  check(request: PolicyCheckRequest, opts: { signal: AbortSignal }): Promise<PolicyCheckResponse>;
}

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
