import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';
import { REPO_ROOT } from './support/capstan-process.js';
import type { FaultMeta, FaultRow } from './support/fault-report.js';

/** A fault's line in the table: its runs summed up. */
interface TableLine {
  fault: string;
  runs: number;
  passed: number;
  jobs: number;
  lost: number;
  duplicated: number;
  violations: number;
  maxRecoveryMs: number | null;
}

/** Renders the fault table as Markdown (the form docs/faults.md shows). */
export function renderFaultTable(lines: readonly TableLine[]): string {
  const header = ['fault', 'runs', 'passed', 'jobs', 'lost', 'duplicated', 'violations', 'max recovery'];
  const body = lines.map((l) => [
    l.fault,
    String(l.runs),
    String(l.passed),
    String(l.jobs),
    String(l.lost),
    String(l.duplicated),
    String(l.violations),
    l.maxRecoveryMs === null ? '—' : `${(l.maxRecoveryMs / 1000).toFixed(1)} s`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const row = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [row(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(row)].join('\n');
}

/**
 * Ends the fault run with the table the issue asks for — fault, runs, jobs, lost, duplicated, max recovery time —
 * from the rows the tests attach (`reportFault`), and writes it to `.capstan/faults/last-run.md` (and `.json`).
 * A test that failed before reporting still counts as a run that did not pass.
 */
export default class FaultTableReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const lines = new Map<string, TableLine>();
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const row: FaultRow | undefined = (test.meta() as FaultMeta).fault;
        // Tests are named `fault <n>: ...`; one that failed before reporting is still a run of fault <n>.
        const named = /^fault (\d+[a-z]?): (.*)$/.exec(test.name);
        const key = /^\d+[a-z]?/.exec(row?.fault ?? '')?.[0] ?? named?.[1];
        if (!key) continue;
        const line = lines.get(key) ?? {
          fault: row?.fault ?? `${key} ${named?.[2] ?? ''}`.trim(),
          runs: 0,
          passed: 0,
          jobs: 0,
          lost: 0,
          duplicated: 0,
          violations: 0,
          maxRecoveryMs: null,
        };
        line.runs++;
        if (test.result().state === 'passed') line.passed++;
        if (row) {
          line.jobs += row.jobs;
          line.lost += row.lost;
          line.duplicated += row.duplicated;
          line.violations += row.violations;
          if (row.maxRecoveryMs !== null) line.maxRecoveryMs = Math.max(line.maxRecoveryMs ?? 0, row.maxRecoveryMs);
        }
        lines.set(key, line);
      }
    }
    if (lines.size === 0) return;
    const sorted = [...lines.values()].sort((a, b) => Number.parseInt(a.fault, 10) - Number.parseInt(b.fault, 10));
    const table = renderFaultTable(sorted);
    process.stdout.write(`\nCapstan fault suite\n${table}\n\n`);
    const dir = join(REPO_ROOT, '.capstan', 'faults');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'last-run.md'), `${table}\n`);
    writeFileSync(join(dir, 'last-run.json'), `${JSON.stringify(sorted, null, 2)}\n`);
  }
}
