import { BundleIssueSchema, BundleTestOutcomeSchema } from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import type { BundleTestResult, PolicyBundleIssue } from '@capstan/policy';
import { Code, ConnectError } from '@connectrpc/connect';

/** INVALID_ARGUMENT naming the offending request field and what was expected. */
export function invalidArgument(field: string, problem: string): ConnectError {
  return new ConnectError(`${field}: ${problem}`, Code.InvalidArgument);
}

/** The wire form of a bundle issue. */
export function toBundleIssueInit(issue: PolicyBundleIssue) {
  return { file: issue.file, line: issue.line, column: issue.column, path: issue.path, message: issue.message };
}

/** One line per issue: `file:line:col: path: message`. */
export function formatIssues(issues: readonly PolicyBundleIssue[]): string {
  return issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n');
}

/**
 * INVALID_ARGUMENT for a bundle that does not load: the message lists every issue as file:line:col, and each issue
 * travels as a `capstan.policy.v1.BundleIssue` error detail (ConnectError.findDetails(BundleIssueSchema)).
 */
export function invalidBundleError(field: string, issues: readonly PolicyBundleIssue[], cause?: unknown): ConnectError {
  return new ConnectError(
    `${field}: invalid policy bundle (${issues.length} issue${issues.length === 1 ? '' : 's'}):\n${formatIssues(issues)}`,
    Code.InvalidArgument,
    undefined,
    issues.map((i) => ({ desc: BundleIssueSchema, value: toBundleIssueInit(i) })),
    cause,
  );
}

/** The wire form of an embedded test's outcome. */
export function toTestOutcomeInit(t: BundleTestResult) {
  return {
    name: t.name,
    passed: t.passed,
    expectedDecision: t.expected.decision,
    expectedRuleId: t.expected.ruleId ?? '',
    actualDecision: t.actual.decision,
    actualRuleId: t.actual.ruleId,
    message: t.message,
    explanation: t.explanation,
  };
}

/** FAILED_PRECONDITION for a bundle whose embedded tests fail when they are required to pass. */
export function failedTestsError(results: readonly BundleTestResult[]): ConnectError {
  const failed = results.filter((r) => !r.passed);
  return new ConnectError(
    `bundle not activated: ${failed.length} of ${results.length} embedded tests failed (require_tests_pass):\n${failed
      .map((f) => `${f.name}: ${f.message}`)
      .join('\n')}`,
    Code.FailedPrecondition,
    undefined,
    failed.map((f) => ({ desc: BundleTestOutcomeSchema, value: toTestOutcomeInit(f) })),
  );
}
