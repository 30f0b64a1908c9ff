import type { Reporter, TestCase, TestModule } from 'vitest/node';
import { TABLE_ROWS } from './scenario-titles.js';
import { sdkLanguages } from './toolchains.js';

/** A cell of the result table. */
type Cell = { state: 'pass' | 'FAIL' | 'not run'; note?: string };

/**
 * Prints the interop result table after the run: one row per scenario, one column per language (the title of the
 * top-level `describe`), each cell `pass`, `FAIL` or `not run`; then why cells were not run, and the closing line
 * `interop: N passed, N failed, N skipped` that CI reads. Vitest's own reporter still prints failures in detail.
 */
export default class InteropTableReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    const columns: string[] = [];
    const rows: string[] = [];
    const cells = new Map<string, Cell>();
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const column = topSuite(test);
        const row = test.name;
        if (!columns.includes(column)) columns.push(column);
        if (!rows.includes(row)) rows.push(row);
        const result = test.result();
        const cell: Cell =
          result.state === 'passed'
            ? { state: 'pass' }
            : result.state === 'failed'
              ? { state: 'FAIL' }
              : { state: 'not run', ...(result.state === 'skipped' && result.note ? { note: result.note } : {}) };
        cells.set(`${row}\u0000${column}`, cell);
      }
    }
    // Fixed order: the scenario list, then the languages as toolchains.ts lists them; anything else after.
    const rank = (order: readonly string[], v: string) => (order.includes(v) ? order.indexOf(v) : order.length);
    const languageOrder = Object.values(sdkLanguages()).map((l) => l.label);
    rows.sort((a, b) => rank(TABLE_ROWS, a) - rank(TABLE_ROWS, b));
    columns.sort((a, b) => rank(languageOrder, a) - rank(languageOrder, b));
    const header = ['scenario', ...columns];
    const body = rows.map((row) => [row, ...columns.map((c) => cells.get(`${row}\u0000${c}`)?.state ?? '—')]);
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
    const line = (r: string[]) => `| ${r.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
    const out = [
      '',
      'Capstan interop results (scenario × language)',
      line(header),
      `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
      ...body.map(line),
    ];
    const notes = new Map<string, string[]>();
    for (const [key, cell] of cells) {
      if (!cell.note) continue;
      const [row, column] = key.split('\u0000') as [string, string];
      const list = notes.get(`${column}: ${cell.note}`) ?? [];
      list.push(row);
      notes.set(`${column}: ${cell.note}`, list);
    }
    if (notes.size > 0) {
      out.push('', 'Not run:');
      for (const [reason, list] of notes)
        out.push(`  - ${reason} (${list.length === rows.length ? 'every scenario' : list.join('; ')})`);
    }
    // A file that failed outside any test (an import or hook error) has no cell: count it, or the line would lie.
    const brokenFiles = testModules.filter(
      (m) => m.state() === 'failed' && [...m.children.allTests()].every((t) => t.result().state !== 'failed'),
    );
    for (const m of brokenFiles) out.push(`FAILED outside the scenarios: ${m.moduleId} (see the errors above)`);
    if (unhandledErrors.length > 0) out.push(`FAILED: ${unhandledErrors.length} unhandled error(s) (see above)`);
    const all = [...cells.values()];
    const count = (s: Cell['state']) => all.filter((c) => c.state === s).length;
    const failed = count('FAIL') + brokenFiles.length + unhandledErrors.length;
    out.push('', `interop: ${count('pass')} passed, ${failed} failed, ${count('not run')} skipped`, '');
    process.stdout.write(out.join('\n'));
  }
}

function topSuite(test: TestCase): string {
  let suite = test.parent;
  let name = test.module.moduleId;
  while (suite.type === 'suite') {
    name = suite.name;
    suite = suite.parent;
  }
  return name;
}
