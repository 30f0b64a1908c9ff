import type { MessageInitShape } from '@bufbuild/protobuf';
import type { DecisionChangeSchema, RuleImpactSchema } from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import type { PolicyCheckRequest } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { createMemoryVelocityCounter, DEFAULT_RULE_ID, evaluate, type PolicyBundle } from '@capstan/policy';
import { decisionTypeName } from './decision-names.js';
import { MAX_REPORTED_CHANGES } from './limits.js';

/** One request to replay and the time it is evaluated at (ms since the epoch; velocity windows use it). */
export interface ReplayItem {
  request: PolicyCheckRequest;
  now: number;
}

/** What changes between two bundles over a set of requests. */
export interface BundleComparison {
  replayed: number;
  /** Requests whose decision differs. */
  changed: number;
  /** The first {@link MAX_REPORTED_CHANGES} changed requests. */
  changes: MessageInitShape<typeof DecisionChangeSchema>[];
  /** Per candidate rule (bundle order, then "default"): how many requests it decided and how many of those changed. */
  rules: MessageInitShape<typeof RuleImpactSchema>[];
}

/**
 * Replays requests, in order, through the active and the candidate bundle and reports which decisions differ.
 * Each bundle gets its own fresh in-memory velocity counter that counts the replayed requests (at their `now`), so
 * velocity rules behave as if the replayed traffic were the only traffic; the shared Redis counters are never
 * read or written.
 */
export async function compareBundles(
  active: PolicyBundle,
  candidate: PolicyBundle,
  items: readonly ReplayItem[],
): Promise<BundleComparison> {
  const beforeVelocity = createMemoryVelocityCounter();
  const afterVelocity = createMemoryVelocityCounter();
  const impact = new Map<string, { selected: number; changed: number }>(
    [...candidate.rules.map((r) => r.id), DEFAULT_RULE_ID].map((id) => [id, { selected: 0, changed: 0 }]),
  );
  const changes: BundleComparison['changes'] = [];
  let changed = 0;
  for (const { request, now } of items) {
    const before = await evaluate(active, request, { velocity: beforeVelocity, now });
    const after = await evaluate(candidate, request, { velocity: afterVelocity, now });
    const rule = impact.get(after.ruleId);
    if (rule) rule.selected++;
    if (before.decision === after.decision) continue;
    changed++;
    if (rule) rule.changed++;
    if (changes.length < MAX_REPORTED_CHANGES) {
      changes.push({
        jobId: request.jobId,
        tenant: request.tenant || request.meta?.tenantId || '',
        topic: request.topic,
        beforeDecision: decisionTypeName(before.decision),
        beforeRuleId: before.ruleId,
        afterDecision: decisionTypeName(after.decision),
        afterRuleId: after.ruleId,
        afterReason: after.reason,
      });
    }
  }
  return {
    replayed: items.length,
    changed,
    changes,
    rules: [...impact].map(([ruleId, v]) => ({ ruleId, selected: v.selected, changed: v.changed })),
  };
}
