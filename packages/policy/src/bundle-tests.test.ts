import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runBundleTests } from './bundle-tests.js';
import { loadBundle } from './load-bundle.js';

describe('runBundleTests', () => {
  it('passes every embedded test of the README example bundle', async () => {
    const text = readFileSync(new URL('./testdata/example-bundle.yaml', import.meta.url), 'utf8');
    const results = await runBundleTests(loadBundle(text));
    expect(results.map((r) => [r.name, r.passed, r.message])).toEqual([
      ['echo allowed', true, 'ok'],
      ['prod delete needs a human', true, 'ok'],
      ['code writes are bounded', true, 'ok'],
      ['anything else is denied', true, 'ok'],
    ]);
  });

  it('reports a failing case with expected, actual and the explanation', async () => {
    const bundle = loadBundle(
      [
        'rules:',
        '  - { id: echo, match: { topics: [job.echo] }, decision: allow }',
        'tests:',
        '  - name: wrong rule',
        '    request: { topic: job.other }',
        '    expect: { decision: allow, rule_id: echo }',
        '  - name: decision only',
        '    request: { topic: job.echo }',
        '    expect: { decision: allow }',
      ].join('\n'),
    );
    const [wrong, loose] = await runBundleTests(bundle);
    expect(wrong).toMatchObject({
      passed: false,
      expected: { decision: 'allow', ruleId: 'echo' },
      actual: { decision: 'deny', ruleId: 'default' },
      message: 'expected allow by echo, got deny by default',
    });
    expect(wrong?.explanation).toContain('topic "job.other" does not match [job.echo]');
    expect(loose).toMatchObject({ passed: true, message: 'ok' });
  });
});
