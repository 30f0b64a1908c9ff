import { DecisionType } from '@capstan/gen/cordum/agent/v1/safety_pb';

/** The wire enum's name of a decision without prefix (`DENY`, `ALLOW_WITH_CONSTRAINTS`), as stored and listed. */
export function decisionTypeName(decision: DecisionType): string {
  return DecisionType[decision] ?? `DECISION_${decision}`;
}

/** Parses a decision name as written by a client (`DENY`, `deny`, `DECISION_TYPE_DENY`); undefined if unknown. */
export function parseDecisionTypeName(name: string): string | undefined {
  const upper = name
    .trim()
    .toUpperCase()
    .replace(/^DECISION_TYPE_/, '');
  const value = (DecisionType as unknown as Record<string, unknown>)[upper];
  return typeof value === 'number' && value !== DecisionType.UNSPECIFIED ? upper : undefined;
}
