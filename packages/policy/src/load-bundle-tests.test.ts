import { describe, expect, it } from 'vitest';
import { runBundleTests } from './bundle-tests.js';
import { PolicyBundleError } from './errors.js';
import { loadBundle } from './load-bundle.js';
import { loadBundleTests } from './load-bundle-tests.js';

const bundle = loadBundle(
  [
    'rules:',
    '  - { id: echo, match: { topics: [job.echo] }, decision: allow }',
    'tests:',
    '  - { name: embedded, request: { topic: job.echo }, expect: { decision: allow } }',
  ].join('\n'),
  { file: 'policy.yaml' },
);

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof PolicyBundleError)
      return err.issues.map((i) => `${i.file}:${i.line}:${i.column} ${i.path}: ${i.message}`);
    throw err;
  }
  throw new Error('expected a PolicyBundleError');
}

describe('loadBundleTests', () => {
  it('loads the cases of a tests file and runs them beside the embedded ones', async () => {
    const cases = loadBundleTests(
      [
        'tests:',
        '  - name: echo by rule',
        '    request: { topic: job.echo, tenant: acme }',
        '    expect: { decision: allow, rule_id: echo }',
        '  - name: other denied',
        '    request: { topic: job.other }',
        '    expect: { decision: deny, rule_id: default }',
      ].join('\n'),
      bundle,
      { file: 'policy.tests.yaml' },
    );
    expect(cases.map((c) => [c.name, c.request.topic, c.expect.ruleId])).toEqual([
      ['echo by rule', 'job.echo', 'echo'],
      ['other denied', 'job.other', 'default'],
    ]);
    const results = await runBundleTests({ ...bundle, tests: [...bundle.tests, ...cases] });
    expect(results.map((r) => [r.name, r.passed])).toEqual([
      ['embedded', true],
      ['echo by rule', true],
      ['other denied', true],
    ]);
  });

  it('reports every problem with its position in the tests file', () => {
    const text = [
      'tests:',
      '  - name: unknown rule',
      '    request: { topic: job.echo }',
      '    expect: { decision: allow, rule_id: nope }',
      '  - name: bad request',
      '    request: { topik: job.echo }',
      '    expect: { decision: allow }',
      '  - name: bad decision',
      '    request: { topic: job.echo }',
      '    expect: { decision: maybe }',
    ].join('\n');
    expect(issuesOf(() => loadBundleTests(text, bundle, { file: 'policy.tests.yaml' }))).toEqual([
      'policy.tests.yaml:4:41 tests[0].expect.rule_id: unknown rule id "nope"; expected a rule id of this bundle or "default"',
      expect.stringMatching(/^policy\.tests\.yaml:6:14 tests\[1\]\.request: invalid request: .*"topik" is unknown/),
      expect.stringMatching(/^policy\.tests\.yaml:10:25 tests\[2\]\.expect\.decision: expected one of allow, deny/),
    ]);
  });

  it('rejects a document that is not a tests list, and YAML errors, with positions', () => {
    expect(issuesOf(() => loadBundleTests('rules: []\n', bundle, { file: 't.yaml' }))).toEqual([
      't.yaml:1:1 : missing required field "tests"',
      't.yaml:1:1 rules: unknown field "rules"; expected one of: tests',
    ]);
    expect(issuesOf(() => loadBundleTests('tests: [\n', bundle, { file: 't.yaml' }))[0]).toMatch(
      /^t\.yaml:\d+:\d+ : YAML: /,
    );
  });
});
