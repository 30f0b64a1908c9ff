import { compileSubjectPattern } from '@capstan/protocol';
import type { RuleDocument } from './bundle-schema.js';
import type { RequestView } from './request-view.js';

/** One precompiled `match:` condition of a rule. */
export interface MatchCondition {
  /** Fast check used by evaluate. */
  test(view: RequestView): boolean;
  /** Human-readable reason the condition failed, used by explain only (so evaluate builds no strings). */
  why(view: RequestView): string;
}

const list = (values: readonly string[]) => `[${values.join(', ')}]`;
const quote = (value: string) => (value === '' ? '(empty)' : JSON.stringify(value));

/** An any-of condition on one string field. */
function oneOf(field: string, values: readonly string[], read: (v: RequestView) => string): MatchCondition {
  const set = new Set(values);
  return {
    test: (v) => set.has(read(v)),
    why: (v) => `${field} ${quote(read(v))} is not one of ${list(values)}`,
  };
}

/** Compiles a rule's `match:` block into conditions, cheapest first. All must hold. */
export function compileMatch(match: RuleDocument['match']): MatchCondition[] {
  if (!match) return [];
  const out: MatchCondition[] = [];
  if (match.tenants) out.push(oneOf('tenant', match.tenants, (v) => v.tenant));
  if (match.topics) {
    const globs = match.topics.map(compileSubjectPattern);
    out.push({
      test: (v) => {
        for (const g of globs) if (g.test(v.topic, v.topicTokens)) return true;
        return false;
      },
      why: (v) => `topic ${quote(v.topic)} does not match ${list(match.topics ?? [])}`,
    });
  }
  if (match.capabilities) out.push(oneOf('capability', match.capabilities, (v) => v.capability));
  if (match.actor_ids) out.push(oneOf('actor id', match.actor_ids, (v) => v.actorId));
  if (match.actor_types) out.push(oneOf('actor type', match.actor_types, (v) => v.actorType));
  if (match.risk_tags) {
    const wanted = new Set(match.risk_tags);
    out.push({
      test: (v) => v.riskTags.some((t) => wanted.has(t)),
      why: (v) => `risk tags ${list(v.riskTags)} include none of ${list(match.risk_tags ?? [])}`,
    });
  }
  if (match.requires) {
    const required = match.requires;
    out.push({
      test: (v) => required.every((r) => v.requires.includes(r)),
      why: (v) => `requires ${list(v.requires)} lacks ${list(required.filter((r) => !v.requires.includes(r)))}`,
    });
  }
  if (match.labels) {
    const entries = Object.entries(match.labels);
    out.push({
      test: (v) => entries.every(([k, want]) => v.label(k) === want),
      why: (v) => {
        const [k, want] = entries.find(([key, w]) => v.label(key) !== w) ?? ['', ''];
        const got = v.label(k);
        return `label ${k} is ${got === undefined ? 'absent' : quote(got)}, expected ${quote(want)}`;
      },
    });
  }
  if (match.label_allowlist) {
    const entries = Object.entries(match.label_allowlist).map(([k, vs]) => [k, new Set(vs), vs] as const);
    const offending = (v: RequestView) =>
      entries.find(([k, allowed]) => {
        const got = v.label(k);
        return got !== undefined && !allowed.has(got);
      });
    out.push({
      test: (v) => offending(v) === undefined,
      why: (v) => {
        const [k, , vs] = offending(v) ?? ['', new Set(), []];
        return `label ${k} is ${quote(v.label(k) ?? '')}, not in the allow-list ${list(vs)}`;
      },
    });
  }
  return out;
}
