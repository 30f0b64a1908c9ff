import { fromJson, type JsonObject } from '@bufbuild/protobuf';
import { PolicyCheckRequestSchema } from '@capstan/gen/cordum/agent/v1/safety_pb';
import type { TestDocument } from './bundle-schema.js';
import { DECISION_BY_NAME } from './decision-names.js';
import type { PolicyBundleIssue } from './errors.js';
import { DEFAULT_RULE_ID } from './limits.js';
import type { BundleTestCase } from './policy-bundle.js';
import type { YamlSource } from './yaml-source.js';

/**
 * Compiles schema-valid `tests:` cases (embedded in a bundle or from a tests file): parses each request as a
 * proto-JSON `PolicyCheckRequest` and checks that an expected rule id exists. Entries may be undefined when they
 * failed the schema (their issues are already reported); they are skipped but keep their index for positions.
 * Problems go to `issues`, at `tests[i]...` positions of `source`.
 */
export function compileTestCases(
  tests: readonly (TestDocument | undefined)[],
  source: YamlSource,
  ruleIds: ReadonlySet<string>,
  issues: PolicyBundleIssue[],
): BundleTestCase[] {
  const compiled: BundleTestCase[] = [];
  tests.forEach((t, i) => {
    if (!t) return;
    const ruleId = t.expect.rule_id;
    if (ruleId !== undefined && ruleId !== DEFAULT_RULE_ID && !ruleIds.has(ruleId)) {
      issues.push(
        source.issue(
          ['tests', i, 'expect', 'rule_id'],
          `unknown rule id "${ruleId}"; expected a rule id of this bundle or "default"`,
        ),
      );
    }
    try {
      const request = fromJson(PolicyCheckRequestSchema, t.request as JsonObject);
      const expect = { decision: DECISION_BY_NAME[t.expect.decision], ...(ruleId !== undefined ? { ruleId } : {}) };
      compiled.push({ name: t.name, request, expect });
    } catch (err) {
      issues.push(
        source.issue(
          ['tests', i, 'request'],
          `invalid request: ${err instanceof Error ? err.message : String(err)}; expected a cordum.agent.v1.PolicyCheckRequest in proto JSON form`,
        ),
      );
    }
  });
  return compiled;
}
