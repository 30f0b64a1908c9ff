import type { PolicyCheckRequest, PolicyCheckResponse } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { defaultResponse, ruleResponse } from './build-response.js';
import { decisionName } from './decision-names.js';
import { DEFAULT_RULE_ID } from './limits.js';
import { createMemoryVelocityCounter } from './memory-velocity-counter.js';
import type { CompiledRule, PolicyBundle } from './policy-bundle.js';
import { createRequestView, type RequestView } from './request-view.js';
import type { VelocityCounter, VelocityHit } from './velocity-counter.js';

/** One rule's line in an explanation. */
export interface TraceEntry {
  /** The rule's id. */
  ruleId: string;
  /** True when every condition of the rule held (whether or not an earlier rule already won). */
  matched: boolean;
  /** The first condition that failed, in words, e.g. `topic "job.x" does not match [job.echo]`. */
  failed?: string;
  /** Velocity count for velocity rules whose other conditions held. */
  velocity?: { count: number; limit: number; windowMs: number };
  /** True for the rule whose decision was returned. */
  selected: boolean;
}

/** The decision with the full trace of every rule. */
export interface Explanation {
  /** The response `evaluate` with `dryRun` would give. */
  response: PolicyCheckResponse;
  /** One entry per rule, in bundle order. */
  trace: TraceEntry[];
  /** The trace as readable multi-line text. */
  text: string;
}

/** Options of `explain`. */
export interface ExplainOptions {
  /**
   * Counter to read velocity from (never written: explain has no side effects).
   * @default a fresh in-memory counter, i.e. as if this were the only request in every window
   */
  velocity?: VelocityCounter;
  /**
   * Clock for velocity windows, ms since the epoch.
   * @default Date.now()
   */
  now?: number;
}

async function traceRule(
  rule: CompiledRule,
  view: RequestView,
  counter: VelocityCounter,
  now: number,
): Promise<{ entry: Omit<TraceEntry, 'selected'>; hit?: VelocityHit }> {
  const failedCondition = rule.match.find((c) => !c.test(view));
  if (failedCondition) return { entry: { ruleId: rule.id, matched: false, failed: failedCondition.why(view) } };
  if (rule.when) {
    const outcome = rule.when.explain(view.request);
    if (!outcome.ok) return { entry: { ruleId: rule.id, matched: false, failed: outcome.why } };
  }
  if (!rule.velocity) return { entry: { ruleId: rule.id, matched: true } };
  const v = rule.velocity;
  const hit = await counter.hit(v.key(view), v.windowMs, v.limit, { dryRun: true, now });
  const velocity = { count: hit.count, limit: v.limit, windowMs: v.windowMs };
  if (hit.exceeded) return { entry: { ruleId: rule.id, matched: true, velocity }, hit };
  return {
    entry: {
      ruleId: rule.id,
      matched: false,
      velocity,
      failed: `velocity ${hit.count} of ${v.limit} per ${v.windowMs / 1000}s for [${v.parts.join(', ')}] is within the limit`,
    },
  };
}

function formatText(bundle: PolicyBundle, response: PolicyCheckResponse, trace: TraceEntry[]): string {
  const lines = [
    `policy ${bundle.snapshotId} (${bundle.file}): ${decisionName(response.decision).toUpperCase()} by ${
      response.ruleId === DEFAULT_RULE_ID ? 'the default decision' : `rule ${response.ruleId}`
    } — ${response.reason}`,
  ];
  const winner = trace.find((t) => t.selected);
  trace.forEach((t, i) => {
    const mark = t.selected ? '=>' : t.matched ? ' +' : ' -';
    let detail: string;
    if (t.selected) detail = 'matched; decides';
    else if (t.matched) detail = `matched, but rule ${winner?.ruleId} comes first`;
    else detail = `no match: ${t.failed}`;
    lines.push(`${mark} ${i + 1}. ${t.ruleId}: ${detail}`);
  });
  lines.push(
    `${winner ? ' -' : '=>'} default: ${winner ? 'not used' : `${decisionName(bundle.defaultDecision)} (no rule matched)`}`,
  );
  return lines.join('\n');
}

/**
 * Explains a decision: evaluates every rule (not only up to the first match) without side effects and says for
 * each whether it matched and which condition failed. The response equals `evaluate(..., { dryRun: true })`.
 */
export async function explain(
  bundle: PolicyBundle,
  request: PolicyCheckRequest,
  options: ExplainOptions = {},
): Promise<Explanation> {
  const view = createRequestView(request);
  const counter = options.velocity ?? createMemoryVelocityCounter({ maxKeys: 1024 });
  const now = options.now ?? Date.now();
  const trace: TraceEntry[] = [];
  let response: PolicyCheckResponse | undefined;
  for (const rule of bundle.rules) {
    const { entry, hit } = await traceRule(rule, view, counter, now);
    const selected = entry.matched && response === undefined;
    if (selected) response = ruleResponse(bundle, rule, hit);
    trace.push({ ...entry, selected });
  }
  response ??= defaultResponse(bundle);
  return { response, trace, text: formatText(bundle, response, trace) };
}
