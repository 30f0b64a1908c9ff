import type {
  DecisionType,
  PolicyCheckRequest,
  PolicyConstraints,
  PolicyRemediation,
} from '@capstan/gen/cordum/agent/v1/safety_pb';
import type { CelCondition } from './cel-condition.js';
import type { MatchCondition } from './match-conditions.js';
import type { RequestView } from './request-view.js';

/** A velocity limit compiled from a rule's `velocity:` block. */
export interface CompiledVelocity {
  /** Key parts as written (`tenant`, `actor`, `label:env`, ...). */
  readonly parts: readonly string[];
  readonly limit: number;
  readonly windowMs: number;
  /** The counter key for a request: rule id plus the values of the key parts. */
  key(view: RequestView): string;
}

/** One rule, compiled: conditions precompiled, CEL planned, response parts prebuilt. */
export interface CompiledRule {
  readonly id: string;
  /** Position in the bundle (0-based). */
  readonly index: number;
  /** The decision returned when the rule fires (ALLOW with constraints is already ALLOW_WITH_CONSTRAINTS). */
  readonly decision: DecisionType;
  /** `reason:` as written, or undefined. */
  readonly reason: string | undefined;
  readonly match: readonly MatchCondition[];
  readonly when: CelCondition | undefined;
  readonly velocity: CompiledVelocity | undefined;
  /** Prebuilt constraints message; cloned into each response. */
  readonly constraints: PolicyConstraints | undefined;
  /** Prebuilt remediation messages; cloned into each response. */
  readonly remediations: readonly PolicyRemediation[];
}

/** An embedded `tests:` case. */
export interface BundleTestCase {
  readonly name: string;
  readonly request: PolicyCheckRequest;
  readonly expect: { readonly decision: DecisionType; readonly ruleId?: string };
}

/** A loaded, validated and compiled policy bundle. Immutable; safe to share between concurrent evaluations. */
export interface PolicyBundle {
  /** `sha256(text)` first 16 hex digits, plus `@<version>` when the bundle has a `version`. */
  readonly snapshotId: string;
  /** The bundle's `version` field, if any. */
  readonly version: string | undefined;
  /** File name it was loaded from (for messages). */
  readonly file: string;
  /** Decision when no rule matches (DENY when the bundle does not say). */
  readonly defaultDecision: DecisionType;
  /** Reason reported with the default decision. */
  readonly defaultReason: string;
  /** Rules in bundle order; the first that matches wins. */
  readonly rules: readonly CompiledRule[];
  /** The bundle's embedded test cases. */
  readonly tests: readonly BundleTestCase[];
}
