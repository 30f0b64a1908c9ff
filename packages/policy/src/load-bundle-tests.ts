import { TESTS_FILE_SCHEMA, type TestDocument } from './bundle-schema.js';
import { compileTestCases } from './compile-test-cases.js';
import { PolicyBundleError, type PolicyBundleIssue } from './errors.js';
import { type LoadBundleOptions, resolveLoadBundleOptions } from './load-bundle.js';
import type { BundleTestCase, PolicyBundle } from './policy-bundle.js';
import { schemaIssues } from './schema-issues.js';
import { parseYamlSource } from './yaml-source.js';

/** Options of `loadBundleTests`: the same as `loadBundle`'s (file name for positions, size limit). */
export type LoadBundleTestsOptions = LoadBundleOptions;

/**
 * Loads test cases kept in a file of their own beside a bundle (a YAML document with only a `tests:` list, each
 * case written exactly as in a bundle's embedded `tests:`), checking expected rule ids against `bundle`. Run them
 * with `runBundleTests({ ...bundle, tests: [...bundle.tests, ...cases] })`.
 * @throws {PolicyBundleError} with every issue found, positioned in the tests file.
 */
export function loadBundleTests(
  text: string,
  bundle: PolicyBundle,
  options?: LoadBundleTestsOptions,
): BundleTestCase[] {
  const { file, maxBytes } = resolveLoadBundleOptions(options);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxBytes) {
    throw new PolicyBundleError([
      {
        file,
        line: 1,
        column: 1,
        path: '',
        message: `tests file is ${bytes} bytes; expected at most ${maxBytes} bytes`,
      },
    ]);
  }
  const source = parseYamlSource(text, file);
  if (source.syntaxIssues.length > 0) throw new PolicyBundleError(source.syntaxIssues);
  const { doc, issues, invalidPointers } = schemaIssues<{ tests: TestDocument[] }>(source, TESTS_FILE_SCHEMA);
  let tests: readonly (TestDocument | undefined)[] = doc?.tests ?? [];
  if (!doc) {
    // Still check the cases that passed the schema, so every problem is reported at once.
    const data = source.data as { tests?: unknown } | null;
    const list = data && typeof data === 'object' && Array.isArray(data.tests) ? (data.tests as TestDocument[]) : [];
    const invalid = (i: number) =>
      invalidPointers.some((p) => p === '' || p === '/tests' || p === `/tests/${i}` || p.startsWith(`/tests/${i}/`));
    tests = list.map((t, i) => (invalid(i) ? undefined : t));
  }
  const all: PolicyBundleIssue[] = [...issues];
  const cases = compileTestCases(tests, source, new Set(bundle.rules.map((r) => r.id)), all);
  if (all.length > 0) throw new PolicyBundleError(all.sort((a, b) => a.line - b.line || a.column - b.column));
  return cases;
}
