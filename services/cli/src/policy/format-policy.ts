import { toJson } from '@bufbuild/protobuf';
import { type Timestamp, timestampDate } from '@bufbuild/protobuf/wkt';
import type { SimulateResponse, SnapshotInfo } from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import {
  DecisionType,
  type PolicyCheckResponse,
  PolicyConstraintsSchema,
} from '@capstan/gen/cordum/agent/v1/safety_pb';
import type { BundleTestResult, PolicyBundle, PolicyBundleIssue } from '@capstan/policy';

/** `policy.yaml:4:5: rules[0].decison: unknown field ...` — the form editors and CI annotate from. */
export function formatIssue(issue: Pick<PolicyBundleIssue, 'file' | 'line' | 'column' | 'path' | 'message'>): string {
  return `${issue.file}:${issue.line}:${issue.column}: ${issue.path ? `${issue.path}: ` : ''}${issue.message}`;
}

/** A decision's wire name without the enum prefix: `ALLOW_WITH_CONSTRAINTS`. */
export function decisionLabel(decision: DecisionType): string {
  return DecisionType[decision] ?? `DECISION(${decision})`;
}

/** `n thing` / `n things`. */
export function plural(n: number, thing: string): string {
  return `${n} ${thing}${n === 1 ? '' : 's'}`;
}

/** ISO time of a timestamp, or `-` when unset. */
export function formatTime(ts: Timestamp | undefined): string {
  return ts ? timestampDate(ts).toISOString() : '-';
}

/** The one-line summary `capstan policy lint` prints for a valid bundle. */
export function formatLintSuccess(bundle: PolicyBundle, extraTests: number): string {
  const tests = bundle.tests.length + extraTests;
  return `${bundle.file}: valid; snapshot ${bundle.snapshotId}, ${plural(bundle.rules.length, 'rule')}, ${plural(tests, 'test')}`;
}

/** One executed test case and the file it came from. */
export interface SourcedTestResult {
  /** File the case was written in (the bundle, or its tests file). */
  file: string;
  result: BundleTestResult;
}

/**
 * The report of `capstan policy test`: per file, `PASS`/`FAIL` per case (a failure followed by what differs and
 * the indented explain trace), then a count line.
 */
export function formatTestReport(results: readonly SourcedTestResult[]): string {
  const lines: string[] = [];
  let file: string | undefined;
  for (const { file: from, result } of results) {
    if (from !== file) {
      file = from;
      lines.push(`${from}:`);
    }
    if (result.passed) {
      lines.push(`  PASS  ${result.name}  (${result.actual.decision} by ${result.actual.ruleId})`);
      continue;
    }
    lines.push(`  FAIL  ${result.name}: ${result.message}`);
    for (const line of result.explanation.split('\n')) lines.push(`        ${line}`);
  }
  const failed = results.filter((r) => !r.result.passed).length;
  lines.push(`${plural(results.length, 'test')}: ${results.length - failed} passed, ${failed} failed`);
  return lines.join('\n');
}

/**
 * Everything of a response beyond the decision line: constraints (as proto JSON), approval, remediations. Empty
 * when there is nothing more to say.
 */
export function formatResponseDetails(response: PolicyCheckResponse): string[] {
  const lines: string[] = [];
  if (response.constraints) {
    lines.push(
      `constraints: ${JSON.stringify(toJson(PolicyConstraintsSchema, response.constraints, { useProtoFieldName: true }))}`,
    );
  }
  if (response.approvalRequired) {
    lines.push(`approval required${response.approvalRef ? `: ${response.approvalRef}` : ''}`);
  }
  for (const r of response.remediations) {
    const parts = [
      r.title,
      r.summary,
      r.replacementTopic && `use topic ${r.replacementTopic}`,
      r.replacementCapability && `use capability ${r.replacementCapability}`,
      Object.keys(r.addLabels).length > 0 &&
        `add labels ${Object.entries(r.addLabels)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')}`,
      r.removeLabels.length > 0 && `remove labels ${r.removeLabels.join(', ')}`,
    ].filter(Boolean);
    lines.push(`remediation ${r.id}${parts.length > 0 ? `: ${parts.join('; ')}` : ''}`);
  }
  return lines;
}

/** `DENY by rule no-shell (snapshot 1a2b…): shell jobs are not allowed` plus the details lines. */
export function formatResponse(response: PolicyCheckResponse): string {
  const by = response.ruleId === 'default' ? 'the default decision' : `rule ${response.ruleId}`;
  const head = `${decisionLabel(response.decision)} by ${by} (snapshot ${response.policySnapshot})${
    response.reason ? `: ${response.reason}` : ''
  }`;
  return [head, ...formatResponseDetails(response)].join('\n');
}

/**
 * The report of `capstan policy simulate`: the candidate's answer to `--request`, then the changed decisions
 * grouped by the candidate rule that now decides them, each rule's totals, and a summary line.
 */
export function formatSimulation(sim: SimulateResponse): string {
  const lines = [`candidate ${sim.candidateSnapshotId} vs active ${sim.activeSnapshotId || '(none)'}`];
  if (sim.response) lines.push(`request: ${formatResponse(sim.response).replaceAll('\n', '\n  ')}`);
  if (sim.replayed > 0 || sim.changes.length > 0) {
    const impacts = new Map(sim.rules.map((r) => [r.ruleId, r]));
    const ruleIds = [...new Set([...sim.rules.map((r) => r.ruleId), ...sim.changes.map((c) => c.afterRuleId)])];
    for (const ruleId of ruleIds) {
      const impact = impacts.get(ruleId);
      const changes = sim.changes.filter((c) => c.afterRuleId === ruleId);
      // Rules that decided none of the replayed requests say nothing about the candidate's effect.
      if (changes.length === 0 && impact?.selected === 0 && impact.changed === 0) continue;
      const decided = impact ? `decides ${impact.selected}` : `decides ${changes.length}`;
      lines.push(`rule ${ruleId}: ${decided}, changed ${impact?.changed ?? changes.length}`);
      for (const c of changes) {
        const who = [c.tenant && `tenant ${c.tenant}`, c.topic].filter(Boolean).join(', ');
        lines.push(
          `  ${c.jobId ? `job ${c.jobId}` : 'request'} (${who}): ${c.beforeDecision} by ${c.beforeRuleId} -> ${c.afterDecision} by ${
            c.afterRuleId
          }${c.afterReason ? `: ${c.afterReason}` : ''}`,
        );
      }
    }
    lines.push(`summary: ${sim.changed} of ${plural(sim.replayed, 'replayed request')} would change decision`);
  }
  return lines.join('\n');
}

/** The table of `capstan policy list`: `*` marks the active snapshot; newest first as the kernel returns them. */
export function formatSnapshots(snapshots: readonly SnapshotInfo[]): string {
  if (snapshots.length === 0) return 'no snapshots stored';
  const rows = snapshots.map((s) => [
    s.active ? '*' : ' ',
    s.snapshotId,
    String(s.ruleCount),
    s.source || '-',
    formatTime(s.createdAt),
    s.activatedAt ? `${formatTime(s.activatedAt)}${s.activatedBy ? ` by ${s.activatedBy}` : ''}` : '-',
  ]);
  return formatTable([[' ', 'SNAPSHOT', 'RULES', 'SOURCE', 'CREATED', 'LAST ACTIVATED'], ...rows]);
}

/** One line describing a snapshot: `1a2b3c4d5e6f7a8b@v2 (12 rules, source admin)`. */
export function describeSnapshot(s: SnapshotInfo): string {
  return `${s.snapshotId} (${plural(s.ruleCount, 'rule')}${s.source ? `, source ${s.source}` : ''})`;
}

/** Left-aligned columns separated by two spaces; trailing blanks trimmed. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
