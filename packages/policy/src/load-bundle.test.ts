import { readFileSync } from 'node:fs';
import { DecisionType } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { describe, expect, it } from 'vitest';
import { PolicyArgumentError, PolicyBundleError, type PolicyBundleIssue } from './errors.js';
import { loadBundle } from './load-bundle.js';

const example = readFileSync(new URL('./testdata/example-bundle.yaml', import.meta.url), 'utf8');

function issuesOf(text: string, opts: { maxBytes?: number } = {}): PolicyBundleIssue[] {
  try {
    loadBundle(text, { file: 'bad.yaml', ...opts });
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyBundleError);
    expect((err as Error).name).toBe('PolicyBundleError');
    return [...(err as PolicyBundleError).issues];
  }
  throw new Error('expected loadBundle to throw');
}

describe('loadBundle', () => {
  it('loads the README example and compiles every rule', () => {
    const bundle = loadBundle(example, { file: 'example.yaml' });
    expect(bundle.rules.map((r) => r.id)).toEqual(['allow-echo', 'no-prod-deletes', 'slow-down', 'bounded']);
    expect(bundle.version).toBe('2026-11-23');
    expect(bundle.defaultDecision).toBe(DecisionType.DENY);
    expect(bundle.rules[1]?.when?.source).toBe("request.meta.labels['env'] == 'prod'");
    expect(bundle.rules[2]?.velocity).toMatchObject({ parts: ['tenant', 'actor'], limit: 100, windowMs: 60_000 });
    expect(bundle.rules[3]?.decision).toBe(DecisionType.ALLOW_WITH_CONSTRAINTS);
    expect(bundle.tests).toHaveLength(4);
  });

  it('snapshot id is the content hash plus version, stable across loads and sensitive to any change', () => {
    const a = loadBundle(example).snapshotId;
    expect(a).toMatch(/^[0-9a-f]{16}@2026-11-23$/);
    expect(loadBundle(example).snapshotId).toBe(a);
    expect(loadBundle(`${example}\n# comment`).snapshotId).not.toBe(a);
    expect(loadBundle('rules: []').snapshotId).toMatch(/^[0-9a-f]{16}$/);
  });

  it('defaults to deny when default_decision is absent, and honours allow', () => {
    expect(loadBundle('rules: []').defaultDecision).toBe(DecisionType.DENY);
    expect(loadBundle('default_decision: allow\nrules: []').defaultDecision).toBe(DecisionType.ALLOW);
  });

  it('reports every schema problem at once with line, column, path and what was expected', () => {
    const issues = issuesOf(
      [
        'default_decision: maybe',
        'rules:',
        '  - id: a',
        '    decison: allow',
        '    match: { topics: [], tenant: [acme] }',
        '  - id: b',
        '    decision: deny',
        '    velocity: { key: [planet], limit: 0, window_seconds: 60 }',
      ].join('\n'),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        {
          file: 'bad.yaml',
          line: 1,
          column: 19,
          path: 'default_decision',
          message: 'expected one of allow, deny; got string "maybe"',
        },
        { file: 'bad.yaml', line: 3, column: 5, path: 'rules[0]', message: 'missing required field "decision"' },
        expect.objectContaining({
          line: 4,
          column: 5,
          path: 'rules[0].decison',
          message: expect.stringMatching(/^unknown field "decison"; expected one of: id, .*decision/),
        }),
        expect.objectContaining({
          line: 5,
          column: 22,
          path: 'rules[0].match.topics',
          message: expect.stringMatching(/at least 1/),
        }),
        expect.objectContaining({ line: 5, column: 26, path: 'rules[0].match.tenant' }),
        expect.objectContaining({
          line: 8,
          column: 23,
          path: 'rules[1].velocity.key[0]',
          message: expect.stringMatching(/planet.*pattern/),
        }),
        expect.objectContaining({
          line: 8,
          column: 39,
          path: 'rules[1].velocity.limit',
          message: 'expected a number >= 1; got number 0',
        }),
      ]),
    );
  });

  it('rejects CEL that does not compile, pointing into the when: expression', () => {
    const issues = issuesOf(
      [
        'rules:',
        '  - id: quoted',
        '    decision: deny',
        '    when: "request.topic == "',
        '  - id: plain',
        '    decision: deny',
        "    when: request.topic = 'x'",
        '  - id: block',
        '    decision: deny',
        '    when: |',
        "      request.topic == 'x' &&",
        '        (1 +',
      ].join('\n'),
    );
    expect(issues).toEqual([
      expect.objectContaining({ line: 4, column: 26, path: 'rules[0].when', message: expect.stringMatching(/^CEL: /) }),
      expect.objectContaining({ line: 7, column: 25, path: 'rules[1].when', message: expect.stringMatching(/^CEL: /) }),
      expect.objectContaining({
        line: 11,
        column: 28,
        path: 'rules[2].when',
        message: expect.stringMatching(/^CEL: /),
      }),
    ]);
  });

  it('also compiles the schema-valid rules of a bundle with schema errors, so all issues come at once', () => {
    const issues = issuesOf(
      ['rules:', '  - id: a', '    decision: nope', '  - id: b', '    decision: deny', '    when: "1 +"'].join('\n'),
    );
    expect(issues.map((i) => i.path)).toEqual(['rules[0].decision', 'rules[1].when']);
  });

  it('checks ids, globs, constraints and embedded tests beyond the schema', () => {
    const issues = issuesOf(
      [
        'rules:',
        '  - id: default',
        '    decision: deny',
        '  - id: a',
        '    decision: deny',
        '    match: { topics: ["job.>.x"] }',
        '    constraints: { redaction_level: strict }',
        '  - id: a',
        '    decision: allow_with_constraints',
        'tests:',
        '  - name: t',
        '    request: { topik: job.x }',
        '    expect: { decision: deny, rule_id: nope }',
      ].join('\n'),
    );
    expect(issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`)).toEqual([
      '2:9 rules[0].id: rule id "default" is reserved for the default decision',
      expect.stringMatching(/^6:23 rules\[1\]\.match\.topics\[0\]: ">" must be the last token/),
      expect.stringMatching(/^7:5 rules\[1\]\.constraints: constraints only apply to allow/),
      '8:9 rules[2].id: duplicate rule id "a"; first used by rules[1]',
      expect.stringMatching(/^9:15 rules\[2\]\.decision: decision allow_with_constraints needs a constraints: block/),
      expect.stringMatching(/^12:14 tests\[0\]\.request: invalid request: .*"topik" is unknown/),
      '13:40 tests[0].expect.rule_id: unknown rule id "nope"; expected a rule id of this bundle or "default"',
    ]);
  });

  it('reports YAML syntax errors with their position', () => {
    const issues = issuesOf('rules:\n  - id: a\n    decision: [deny\n');
    expect(issues[0]).toMatchObject({
      file: 'bad.yaml',
      line: expect.any(Number),
      message: expect.stringMatching(/^YAML: /),
    });
    expect(issuesOf('rules: []\nrules: []')[0]?.message).toMatch(/YAML: .*unique/i);
  });

  it('rejects oversized bundles before parsing them', () => {
    const issues = issuesOf(`rules: []\n${'#'.repeat(2000)}`, { maxBytes: 1000 });
    expect(issues).toEqual([
      { file: 'bad.yaml', line: 1, column: 1, path: '', message: 'bundle is 2010 bytes; expected at most 1000 bytes' },
    ]);
    expect(() => loadBundle(`rules: []\n#${'x'.repeat(1024 * 1024)}`)).toThrow(/expected at most 1048576 bytes/);
  });

  it('rejects a bad maxBytes option', () => {
    expect(() => loadBundle('rules: []', { maxBytes: 0 })).toThrow(PolicyArgumentError);
  });
});
