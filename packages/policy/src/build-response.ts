import { clone, create } from '@bufbuild/protobuf';
import {
  DecisionType,
  type PolicyCheckResponse,
  PolicyCheckResponseSchema,
  PolicyConstraintsSchema,
  PolicyRemediationSchema,
} from '@capstan/gen/cordum/agent/v1/safety_pb';
import { DEFAULT_RULE_ID } from './limits.js';
import type { CompiledRule, PolicyBundle } from './policy-bundle.js';
import type { VelocityHit } from './velocity-counter.js';

/** The response for a rule that fired; constraints and remediations are cloned so callers may mutate them. */
export function ruleResponse(bundle: PolicyBundle, rule: CompiledRule, hit?: VelocityHit): PolicyCheckResponse {
  let reason = rule.reason;
  if (reason === undefined) {
    reason =
      hit && rule.velocity
        ? `rule ${rule.id}: ${hit.count} requests exceed the limit of ${rule.velocity.limit} per ${rule.velocity.windowMs / 1000}s`
        : `matched rule ${rule.id}`;
  }
  return create(PolicyCheckResponseSchema, {
    decision: rule.decision,
    reason,
    policySnapshot: bundle.snapshotId,
    ruleId: rule.id,
    constraints: rule.constraints ? clone(PolicyConstraintsSchema, rule.constraints) : undefined,
    approvalRequired: rule.decision === DecisionType.REQUIRE_HUMAN,
    remediations: rule.remediations.map((r) => clone(PolicyRemediationSchema, r)),
  });
}

/** The response when no rule matched. */
export function defaultResponse(bundle: PolicyBundle): PolicyCheckResponse {
  return create(PolicyCheckResponseSchema, {
    decision: bundle.defaultDecision,
    reason: bundle.defaultReason,
    policySnapshot: bundle.snapshotId,
    ruleId: DEFAULT_RULE_ID,
  });
}
