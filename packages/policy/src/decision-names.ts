import { DecisionType } from '@capstan/gen/cordum/agent/v1/safety_pb';

/** YAML decision names to the wire enum. */
export const DECISION_BY_NAME = {
  allow: DecisionType.ALLOW,
  deny: DecisionType.DENY,
  require_human: DecisionType.REQUIRE_HUMAN,
  throttle: DecisionType.THROTTLE,
  allow_with_constraints: DecisionType.ALLOW_WITH_CONSTRAINTS,
} as const satisfies Record<string, DecisionType>;

/** The YAML name of a decision (`allow_with_constraints`), or the enum number for unknown values. */
export function decisionName(decision: DecisionType): string {
  for (const [name, value] of Object.entries(DECISION_BY_NAME)) if (value === decision) return name;
  return `decision(${decision})`;
}
