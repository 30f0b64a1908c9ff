import type { HistoryVerdict } from './history-checker.js';

/** One row of the fault table (docs/faults.md): what a fault test injected and what the checker found. */
export interface FaultRow {
  /** Fault number and name, e.g. `1 worker SIGKILL mid-job`. */
  fault: string;
  /** Acknowledged jobs checked. */
  jobs: number;
  lost: number;
  duplicated: number;
  /** Longest time from the injection to the affected jobs completing, when the test measures one. */
  maxRecoveryMs: number | null;
  /** Invariant violations (any invariant, including `lost` and `duplicated` ones). */
  violations: number;
}

function countBy(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k}: ${n}`).join(', ');
}

function rarestFirst<T extends { invariant: string }>(list: readonly T[]): T[] {
  const counts = new Map<string, number>();
  for (const v of list) counts.set(v.invariant, (counts.get(v.invariant) ?? 0) + 1);
  return [...list].sort((a, b) => counts.get(a.invariant)! - counts.get(b.invariant)!);
}

/** The largest of `values`, or null when there are none (no recovery to measure). */
export function maxOrNull(values: readonly number[]): number | null {
  return values.length === 0 ? null : Math.max(...values);
}

/** Where the row travels from the test to the table reporter (vitest's per-test `meta`). */
export interface FaultMeta {
  fault?: FaultRow;
}

/**
 * Prints what a fault test injected and verified, with the checker's numbers, and attaches the table row to the
 * test (`task.meta`) for the table reporter.
 */
export function reportFault(
  task: { meta: object },
  report: {
    fault: string;
    injected: readonly string[];
    verified: readonly string[];
    verdict: HistoryVerdict;
    maxRecoveryMs?: number | null;
  },
): FaultRow {
  const v = report.verdict;
  const row: FaultRow = {
    fault: report.fault,
    jobs: v.jobs,
    lost: v.lost.length,
    duplicated: v.duplicated.length,
    maxRecoveryMs: report.maxRecoveryMs ?? null,
    violations: v.violations.length,
  };
  (task.meta as FaultMeta).fault = row;
  const states = Object.entries(v.stats.states)
    .map(([s, n]) => `${s} ${n}`)
    .join(', ');
  const lines = [
    `[fault ${report.fault}]`,
    ...report.injected.map((l) => `  injected: ${l}`),
    ...report.verified.map((l) => `  verified: ${l}`),
    `  history: ${v.jobs} acknowledged jobs (${states || 'none'}), ${v.stats.dispatches} dispatches, ` +
      `${v.stats.results} results, ${v.stats.staleRefused} stale results refused, ${v.stats.reexecuted} re-executed, ` +
      `${v.stats.rollbacks} saga rollbacks (${v.stats.compensations} compensations)`,
    `  outcome: lost ${row.lost}, duplicated ${row.duplicated}, invariant violations ${row.violations}` +
      (row.maxRecoveryMs === null ? '' : `, max recovery ${row.maxRecoveryMs} ms`) +
      (v.violations.length > 0 ? ` (${countBy(v.violations.map((x) => x.invariant))})` : ''),
    // Rarest invariant first: one process death explains a hundred stuck jobs.
    ...rarestFirst(v.violations)
      .slice(0, 20)
      .map((x) => `  VIOLATION ${x.invariant}${x.jobId ? ` ${x.jobId}` : ''}: ${x.detail}`),
    ...(v.violations.length > 20 ? [`  ... and ${v.violations.length - 20} more`] : []),
  ];
  console.log(lines.join('\n'));
  return row;
}
