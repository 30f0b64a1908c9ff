import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliEnv, runCli } from './spawn-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'capstan-policy-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DEV_POLICY = new URL('../policies/dev-policy.yaml', import.meta.url).pathname;

function write(name: string, lines: string[]): string {
  writeFileSync(join(dir, name), `${lines.join('\n')}\n`);
  return name;
}

const BUNDLE = [
  'version: "1"',
  'rules:',
  '  - id: echo',
  '    match: { topics: [job.echo] }',
  '    decision: allow',
  '  - id: no-shell',
  '    match: { topics: ["job.shell.>"] }',
  '    decision: deny',
  '    reason: no shell',
  'tests:',
  '  - name: echo is allowed',
  '    request: { topic: job.echo }',
  '    expect: { decision: allow, rule_id: echo }',
];

// Each run starts the real CLI from source through tsx (about a second each).
describe('capstan policy lint / test / explain --bundle', { timeout: 60_000 }, () => {
  it('lint prints the snapshot id and counts of a valid bundle (with its tests file) and exits 0', async () => {
    write('good.yaml', BUNDLE);
    write('good.tests.yaml', [
      'tests:',
      '  - name: shell denied',
      '    request: { topic: job.shell.ls }',
      '    expect: { decision: deny, rule_id: no-shell }',
    ]);
    const result = await runCli(['policy', 'lint', 'good.yaml'], { cwd: dir });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^good\.yaml: valid; snapshot [0-9a-f]{16}@1, 2 rules, 2 tests\n$/);
  });

  it('lint prints every issue as file:line:col: path: message and exits 1', async () => {
    write('bad.yaml', [
      'rules:',
      '  - id: echo',
      '    match: { topics: [job.echo] }',
      '    decison: allow',
      '  - id: cel',
      '    when: "request.topic =="',
      '    decision: deny',
    ]);
    const result = await runCli(['policy', 'lint', 'bad.yaml'], { cwd: dir });
    expect(result.code).toBe(1);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe('bad.yaml:2:5: rules[0]: missing required field "decision"');
    expect(lines[1]).toMatch(/^bad\.yaml:4:5: rules\[0\]\.decison: unknown field "decison"; expected one of: id, /);
    expect(lines[2]).toMatch(/^bad\.yaml:6:\d+: rules\[1\]\.when: /);
    expect(result.stderr).toBe('3 issues found\n');
  });

  it('lint reports an issue of the tests file beside the bundle with its own positions', async () => {
    write('withbadtests.yaml', BUNDLE);
    write('withbadtests.tests.yaml', [
      'tests:',
      '  - name: x',
      '    request: { topic: job.echo }',
      '    expect: { decision: allow, rule_id: nope }',
    ]);
    const result = await runCli(['policy', 'lint', 'withbadtests.yaml'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe(
      'withbadtests.tests.yaml:4:41: tests[0].expect.rule_id: unknown rule id "nope"; expected a rule id of this bundle or "default"\n',
    );
  });

  it('lint says which file it cannot read', async () => {
    const result = await runCli(['policy', 'lint', 'missing.yaml'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^capstan policy lint: cannot read policy bundle missing\.yaml: ENOENT/);
  });

  it('test runs embedded and beside-file cases, shows each failure with its explanation, exits 1 on a failure', async () => {
    write('suite.yaml', BUNDLE);
    write('suite.tests.yaml', [
      'tests:',
      '  - name: shell denied',
      '    request: { topic: job.shell.ls }',
      '    expect: { decision: deny, rule_id: no-shell }',
      '  - name: wrong on purpose',
      '    request: { topic: job.deploy.prod }',
      '    expect: { decision: allow }',
    ]);
    const failing = await runCli(['policy', 'test', 'suite.yaml'], { cwd: dir });
    expect(failing.code).toBe(1);
    expect(failing.stdout).toContain('suite.yaml:\n  PASS  echo is allowed  (allow by echo)\n');
    expect(failing.stdout).toContain('suite.tests.yaml:\n  PASS  shell denied  (deny by no-shell)\n');
    expect(failing.stdout).toContain('  FAIL  wrong on purpose: expected allow, got deny by default\n');
    expect(failing.stdout).toContain('- 1. echo: no match: topic "job.deploy.prod" does not match [job.echo]');
    expect(failing.stdout).toMatch(/3 tests: 2 passed, 1 failed\n$/);

    // --tests replaces the beside file.
    write('other.tests.yaml', ['tests:', '  - { name: only, request: { topic: job.x }, expect: { decision: deny } }']);
    const passing = await runCli(['policy', 'test', 'suite.yaml', '--tests', 'other.tests.yaml'], { cwd: dir });
    expect(passing.code).toBe(0);
    expect(passing.stdout).toMatch(
      /other\.tests\.yaml:\n {2}PASS {2}only {2}\(deny by default\)\n2 tests: 2 passed, 0 failed\n$/,
    );
  });

  it('test exits 1 when a bundle has no tests at all, saying where to put them', async () => {
    write('untested.yaml', ['rules: []']);
    const result = await runCli(['policy', 'test', 'untested.yaml'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'untested.yaml: no tests; add a tests: list to the bundle or to a <name>.tests.yaml',
    );
  });

  it('the dev bundle shipped with the CLI passes its own tests', async () => {
    const result = await runCli(['policy', 'test', DEV_POLICY], { cwd: dir });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/\d+ tests: (\d+) passed, 0 failed\n$/);
  });

  it('explain --bundle prints the trace of every rule locally, with remediations', async () => {
    const result = await runCli(
      ['policy', 'explain', '--bundle', DEV_POLICY, '--request', '{"topic":"job.shell.exec","tenant":"default"}'],
      { cwd: dir, env: cliEnv({ SAFETY_KERNEL_URL: 'http://127.0.0.1:1' }) },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^policy \S+@dev-1 \(.*dev-policy\.yaml\): DENY by rule no-shell — jobs that run arbitrary shell/,
    );
    expect(lines).toContain(' - 1. allow-echo: no match: topic "job.shell.exec" does not match [job.echo]');
    expect(lines.some((l) => l.startsWith('=> 3. no-shell: matched; decides'))).toBe(true);
    expect(lines.at(-1)).toMatch(/^remediation use-sandbox: .*use topic job\.sandbox\.run$/);
  });

  it('rejects a request with an unknown field, naming it', async () => {
    const result = await runCli(
      ['policy', 'explain', '--bundle', DEV_POLICY, '--request', '{"topic":"job.echo","tennant":"x"}'],
      {
        cwd: dir,
      },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^capstan policy explain: --request: cannot decode message cordum\.agent\.v1\.PolicyCheckRequest from JSON: key "tennant" is unknown;/,
    );
  });

  it('says which kernel URL it could not reach and how to start one', async () => {
    const result = await runCli(['policy', 'list'], {
      cwd: dir,
      env: cliEnv({ SAFETY_KERNEL_URL: 'http://127.0.0.1:1' }),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'capstan policy list: cannot reach the safety kernel at http://127.0.0.1:1 (from SAFETY_KERNEL_URL): connect ' +
        'ECONNREFUSED 127.0.0.1:1; start one with `capstan dev` (the whole stack) or `capstan safety-kernel`, or ' +
        'point at a running kernel with --kernel URL or SAFETY_KERNEL_URL\n',
    );
    const approvals = await runCli(['approvals', 'approve', 'apr_1', '--kernel', 'http://127.0.0.1:1'], { cwd: dir });
    expect(approvals.code).toBe(1);
    expect(approvals.stderr).toContain("error: required option '--by <name>' not specified");
  });
});
