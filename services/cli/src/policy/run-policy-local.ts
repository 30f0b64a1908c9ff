import { type PolicyBundle, PolicyBundleError, runBundleTests } from '@capstan/policy';
import { loadBundleFile } from './bundle-file.js';
import { formatIssue, formatLintSuccess, formatTestReport, plural, type SourcedTestResult } from './format-policy.js';

/** Writes the issues of an invalid bundle (or tests file), one per line, and returns exit code 1. */
function reportIssues(error: PolicyBundleError): number {
  for (const issue of error.issues) process.stdout.write(`${formatIssue(issue)}\n`);
  process.stderr.write(`${plural(error.issues.length, 'issue')} found\n`);
  return 1;
}

/**
 * `capstan policy lint FILE`: loads the bundle (and its tests file when there is one) and prints every issue as
 * `file:line:col: path: message` (exit 1), or the snapshot id and counts (exit 0).
 */
export function runPolicyLint(file: string, testsFile?: string): number {
  try {
    const loaded = loadBundleFile(file, testsFile);
    process.stdout.write(`${formatLintSuccess(loaded.bundle, loaded.fileTests.length)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof PolicyBundleError) return reportIssues(error);
    throw error;
  }
}

/**
 * `capstan policy test FILE [--tests FILE2]`: runs the bundle's embedded `tests:` and those of its tests file,
 * printing PASS/FAIL per case with the explanation of each failure. Exit 1 on an invalid bundle, on any failure,
 * or when there is no test at all (a bundle without tests is untested, not passing).
 */
export async function runPolicyTest(file: string, testsFile?: string): Promise<number> {
  let loaded: ReturnType<typeof loadBundleFile>;
  try {
    loaded = loadBundleFile(file, testsFile);
  } catch (error) {
    if (error instanceof PolicyBundleError) return reportIssues(error);
    throw error;
  }
  const { bundle, fileTests } = loaded;
  if (bundle.tests.length + fileTests.length === 0) {
    process.stderr.write(
      `${file}: no tests; add a tests: list to the bundle or to ${loaded.testsFile ?? 'a <name>.tests.yaml file beside it'} ` +
        '(each case: name, request, expect: { decision, rule_id })\n',
    );
    return 1;
  }
  const run = async (tests: PolicyBundle['tests'], source: string): Promise<SourcedTestResult[]> =>
    (await runBundleTests({ ...bundle, tests })).map((result) => ({ file: source, result }));
  const results = [...(await run(bundle.tests, file)), ...(await run(fileTests, loaded.testsFile ?? ''))];
  process.stdout.write(`${formatTestReport(results)}\n`);
  return results.every((r) => r.result.passed) ? 0 : 1;
}
