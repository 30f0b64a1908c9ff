import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { SimulateResponseSchema, SnapshotInfoSchema } from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import { DecisionType, PolicyCheckResponseSchema } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { describe, expect, it } from 'vitest';
import { formatIssue, formatResponse, formatSimulation, formatSnapshots, formatTestReport } from './format-policy.js';

describe('policy output', () => {
  it('formats an issue as file:line:col: path: message (no path for the whole document)', () => {
    expect(formatIssue({ file: 'p.yaml', line: 3, column: 7, path: 'rules[0].id', message: 'bad id' })).toBe(
      'p.yaml:3:7: rules[0].id: bad id',
    );
    expect(formatIssue({ file: 'p.yaml', line: 1, column: 1, path: '', message: 'YAML: oops' })).toBe(
      'p.yaml:1:1: YAML: oops',
    );
  });

  it('reports tests per file, failures with the explanation, and the counts', () => {
    const pass = {
      name: 'echo',
      passed: true,
      expected: { decision: 'allow' },
      actual: { decision: 'allow', ruleId: 'echo' },
      message: 'ok',
      explanation: 'unused',
    };
    const fail = {
      name: 'shell',
      passed: false,
      expected: { decision: 'deny', ruleId: 'no-shell' },
      actual: { decision: 'allow', ruleId: 'all' },
      message: 'expected deny by no-shell, got allow by all',
      explanation: 'policy x: ALLOW by rule all\n=> 1. all: matched; decides',
    };
    expect(
      formatTestReport([
        { file: 'p.yaml', result: pass },
        { file: 'p.tests.yaml', result: fail },
      ]),
    ).toBe(
      [
        'p.yaml:',
        '  PASS  echo  (allow by echo)',
        'p.tests.yaml:',
        '  FAIL  shell: expected deny by no-shell, got allow by all',
        '        policy x: ALLOW by rule all',
        '        => 1. all: matched; decides',
        '2 tests: 1 passed, 1 failed',
      ].join('\n'),
    );
  });

  it('shows a response with its constraints, approval and remediations', () => {
    const response = create(PolicyCheckResponseSchema, {
      decision: DecisionType.ALLOW_WITH_CONSTRAINTS,
      ruleId: 'bounded',
      policySnapshot: 'abc@1',
      reason: 'within limits',
      constraints: { budgets: { maxRetries: 1 } },
      remediations: [
        { id: 'use-sandbox', title: 'Sandbox', replacementTopic: 'job.sandbox.run', addLabels: { pool: 'sb' } },
      ],
    });
    expect(formatResponse(response)).toBe(
      [
        'ALLOW_WITH_CONSTRAINTS by rule bounded (snapshot abc@1): within limits',
        'constraints: {"budgets":{"max_retries":1}}',
        'remediation use-sandbox: Sandbox; use topic job.sandbox.run; add labels pool=sb',
      ].join('\n'),
    );
    const human = create(PolicyCheckResponseSchema, {
      decision: DecisionType.REQUIRE_HUMAN,
      ruleId: 'default',
      policySnapshot: 's',
      approvalRequired: true,
      approvalRef: 'apr_1',
    });
    expect(formatResponse(human)).toBe('REQUIRE_HUMAN by the default decision (snapshot s)\napproval required: apr_1');
  });

  it('lists changed decisions rule by rule with a summary', () => {
    const sim = create(SimulateResponseSchema, {
      candidateSnapshotId: 'new@2',
      activeSnapshotId: 'old@1',
      replayed: 3,
      changed: 2,
      changes: [
        {
          jobId: 'j1',
          tenant: 'acme',
          topic: 'job.shell.ls',
          beforeDecision: 'ALLOW',
          beforeRuleId: 'all',
          afterDecision: 'DENY',
          afterRuleId: 'no-shell',
          afterReason: 'no shell',
        },
        {
          jobId: '',
          tenant: 'acme',
          topic: 'job.x',
          beforeDecision: 'ALLOW',
          beforeRuleId: 'all',
          afterDecision: 'DENY',
          afterRuleId: 'default',
        },
      ],
      rules: [
        { ruleId: 'no-shell', selected: 1, changed: 1 },
        { ruleId: 'echo', selected: 1, changed: 0 },
        { ruleId: 'unused', selected: 0, changed: 0 },
        { ruleId: 'default', selected: 1, changed: 1 },
      ],
    });
    expect(formatSimulation(sim)).toBe(
      [
        'candidate new@2 vs active old@1',
        'rule no-shell: decides 1, changed 1',
        '  job j1 (tenant acme, job.shell.ls): ALLOW by all -> DENY by no-shell: no shell',
        'rule echo: decides 1, changed 0',
        'rule default: decides 1, changed 1',
        '  request (tenant acme, job.x): ALLOW by all -> DENY by default',
        'summary: 2 of 3 replayed requests would change decision',
      ].join('\n'),
    );
  });

  it('tables snapshots with the active one marked', () => {
    const at = timestampFromDate(new Date('2026-01-02T03:04:05Z'));
    const table = formatSnapshots([
      create(SnapshotInfoSchema, {
        snapshotId: 'b@2',
        active: true,
        ruleCount: 3,
        source: 'admin',
        createdAt: at,
        activatedAt: at,
        activatedBy: 'ann',
      }),
      create(SnapshotInfoSchema, { snapshotId: 'a', ruleCount: 1, source: 'file:/p.yaml', createdAt: at }),
    ]);
    expect(table.split('\n')).toEqual([
      '   SNAPSHOT  RULES  SOURCE        CREATED                   LAST ACTIVATED',
      '*  b@2       3      admin         2026-01-02T03:04:05.000Z  2026-01-02T03:04:05.000Z by ann',
      '   a         1      file:/p.yaml  2026-01-02T03:04:05.000Z  -',
    ]);
    expect(formatSnapshots([])).toBe('no snapshots stored');
  });
});
