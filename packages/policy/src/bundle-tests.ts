import { decisionName } from './decision-names.js';
import { explain } from './explain.js';
import type { PolicyBundle } from './policy-bundle.js';

/** Outcome of one embedded `tests:` case. */
export interface BundleTestResult {
  /** The case's `name`. */
  name: string;
  /** True when decision (and rule id, if expected) match. */
  passed: boolean;
  /** What the case expects, with YAML decision names. */
  expected: { decision: string; ruleId?: string };
  /** What the bundle decided. */
  actual: { decision: string; ruleId: string };
  /** One line: `ok` or what differs. */
  message: string;
  /** The explain text of the request, to show on failure. */
  explanation: string;
}

/**
 * Runs a bundle's embedded `tests:` cases through `explain` (no side effects; velocity counted as if each request
 * were the first in its window), for `capstan policy test`.
 */
export async function runBundleTests(bundle: PolicyBundle): Promise<BundleTestResult[]> {
  const results: BundleTestResult[] = [];
  for (const t of bundle.tests) {
    const { response, text } = await explain(bundle, t.request);
    const expected = {
      decision: decisionName(t.expect.decision),
      ...(t.expect.ruleId !== undefined ? { ruleId: t.expect.ruleId } : {}),
    };
    const actual = { decision: decisionName(response.decision), ruleId: response.ruleId };
    const passed =
      response.decision === t.expect.decision && (t.expect.ruleId === undefined || t.expect.ruleId === response.ruleId);
    const want = `${expected.decision}${expected.ruleId ? ` by ${expected.ruleId}` : ''}`;
    results.push({
      name: t.name,
      passed,
      expected,
      actual,
      message: passed ? 'ok' : `expected ${want}, got ${actual.decision} by ${actual.ruleId}`,
      explanation: text,
    });
  }
  return results;
}
