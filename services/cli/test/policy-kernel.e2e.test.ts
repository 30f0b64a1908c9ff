import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { loadConfig } from '@capstan/config';
import {
  ApprovalAppliedSchema,
  ApprovalDecidedSchema,
  PolicyAdmin,
} from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import { DecisionType, SafetyKernel } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { CapstanSubjects } from '@capstan/protocol';
import { safetyKernelConfigSpec, startSafetyKernelService } from '@capstan/safety-kernel-service';
import { createDatabase, migrateToLatest } from '@capstan/store';
import {
  createTestDatabase,
  type NatsHandle,
  type ServerHandle,
  startNats,
  startRedis,
  type TestDatabase,
  testServices,
} from '@capstan/testkit';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, runCli } from './spawn-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'capstan-policy-kernel-e2e-'));
const ACTIVE = [
  'version: "1"',
  'rules:',
  '  - { id: echo, match: { topics: [job.echo] }, decision: allow }',
  '  - { id: shell-ok, match: { topics: ["job.shell.>"] }, decision: allow }',
  '  - id: deploys',
  '    match: { topics: ["job.deploy.>"] }',
  '    decision: require_human',
  '    reason: deploys need a human',
].join('\n');
const CANDIDATE = [
  'version: "2"',
  'rules:',
  '  - { id: echo, match: { topics: [job.echo] }, decision: allow }',
  '  - { id: no-shell, match: { topics: ["job.shell.>"] }, decision: deny, reason: no shell }',
  '  - { id: deploys, match: { topics: ["job.deploy.>"] }, decision: require_human }',
].join('\n');

let nats: NatsHandle;
let redis: ServerHandle;
let database: TestDatabase;
let kernel: Awaited<ReturnType<typeof startSafetyKernelService>>;
let nc: NatsConnection;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  // Own NATS and Redis: PolicyChanged and approval messages must not reach other test files' kernels/schedulers.
  [nats, redis, database] = await Promise.all([
    startNats(),
    startRedis(),
    createTestDatabase(testServices().databaseUrl, 'capstan_cli_policy'),
  ]);
  const store = await createDatabase({ url: database.url });
  await migrateToLatest(store.db);
  await store.close();
  writeFileSync(join(dir, 'active.yaml'), ACTIVE);
  writeFileSync(join(dir, 'candidate.yaml'), CANDIDATE);
  const config = loadConfig(safetyKernelConfigSpec, { env: {}, file: null });
  kernel = await startSafetyKernelService({
    ...config,
    natsUrl: nats.url,
    redisUrl: redis.url,
    databaseUrl: database.url,
    port: 0,
    metricsPort: 0,
    logLevel: 'silent',
    policyFile: join(dir, 'active.yaml'),
  });
  nc = await connect({ servers: nats.url });
  env = cliEnv({ SAFETY_KERNEL_URL: kernel.url });
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await kernel?.stop();
  await Promise.all([nats?.stop(), redis?.stop(), database?.drop()]);
  rmSync(dir, { recursive: true, force: true });
});

const transport = () => createConnectTransport({ baseUrl: kernel.url, httpVersion: '1.1' });
const cli = (args: string[]) => runCli(args, { cwd: dir, env });

describe('capstan policy / approvals against a running safety kernel', { timeout: 60_000 }, () => {
  it('lists the snapshot the kernel loaded from its file, and explains a request with the active bundle', async () => {
    const list = await cli(['policy', 'list']);
    expect(list.stderr).toBe('');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^\\*  ${kernel.activeSnapshot().replace(/[.@]/g, '\\$&')} +3 `, 'm'));

    const explained = await cli(['policy', 'explain', '--request', '{"topic":"job.deploy.prod","tenant":"t1"}']);
    expect(explained.code).toBe(0);
    expect(explained.stdout).toContain('REQUIRE_HUMAN by rule deploys');
    expect(explained.stdout).toContain('=> 3. deploys: matched; decides');
  });

  it('upload rejects an invalid bundle with its positions; upload, activate and rollback switch snapshots', async () => {
    writeFileSync(join(dir, 'broken.yaml'), 'rules:\n  - { id: x, decison: allow }\n');
    const broken = await cli(['policy', 'upload', 'broken.yaml']);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(
      /^capstan policy upload: upload failed \(invalid_argument\): .*invalid policy bundle/,
    );
    expect(broken.stderr).toMatch(/\n {2}broken\.yaml:2:\d+: rules\[0\]\.decison: unknown field "decison"/);

    const before = kernel.activeSnapshot();
    const stored = await cli(['policy', 'upload', 'candidate.yaml', '--actor', 'ann']);
    expect(stored.code).toBe(0);
    const id = /^stored snapshot (\S+) \(3 rules/.exec(stored.stdout)?.[1];
    expect(id).toMatch(/@2$/);
    expect(stored.stdout).toContain(`activate it with: capstan policy activate ${id}`);
    expect(kernel.activeSnapshot()).toBe(before);

    const activated = await cli(['policy', 'activate', id!, '--reason', 'stricter shell']);
    expect(activated.code).toBe(0);
    expect(activated.stdout).toBe(`active snapshot: ${id} (3 rules, source admin) (was ${before})\n`);
    expect(kernel.activeSnapshot()).toBe(id);
    expect((await cli(['policy', 'list'])).stdout).toMatch(new RegExp(`^\\*  ${id!.replace('@', '\\@')} `, 'm'));

    const rolledBack = await cli(['policy', 'rollback']);
    expect(rolledBack.code).toBe(0);
    expect(rolledBack.stdout).toMatch(
      new RegExp(`^rolled back to snapshot ${before.replace('@', '\\@')} .*\\(was ${id}\\)\\n$`),
    );
    expect(kernel.activeSnapshot()).toBe(before);

    const unknown = await cli(['policy', 'activate', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(
      /^capstan policy activate: activate failed \((not_found|invalid_argument|failed_precondition)\): /,
    );
  });

  it('simulate reports the changed decisions of recorded requests, rule by rule', async () => {
    const safety = createClient(SafetyKernel, transport());
    for (const [jobId, topic] of [
      ['sim-echo-1', 'job.echo'],
      ['sim-shell-1', 'job.shell.ls'],
      ['sim-echo-2', 'job.echo'],
    ] as const) {
      const res = await safety.check({ jobId, topic, tenant: 'sim' });
      expect(res.decision).toBe(DecisionType.ALLOW);
    }
    // Check records decisions in batches: wait until they are in the history.
    const admin = createClient(PolicyAdmin, transport());
    const deadline = Date.now() + 10_000;
    while ((await admin.listDecisions({ tenant: 'sim' })).decisions.length < 3) {
      if (Date.now() > deadline) throw new Error('decisions were not recorded within 10 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const sim = await cli(['policy', 'simulate', '--bundle', 'candidate.yaml', '--replay', '3']);
    expect(sim.stderr).toBe('');
    expect(sim.code).toBe(0);
    expect(sim.stdout).toMatch(/^candidate \S+@2 vs active \S+@1\n/);
    expect(sim.stdout).toMatch(
      /^rule no-shell: decides 1, changed 1\n {2}job sim-shell-1 \(tenant sim, job\.shell\.ls\): ALLOW by shell-ok -> DENY by no-shell: no shell$/im,
    );
    expect(sim.stdout).toMatch(/^rule echo: decides 2, changed 0$/m);
    expect(sim.stdout).toMatch(/summary: 1 of 3 replayed requests would change decision\n$/);

    writeFileSync(join(dir, 'requests.jsonl'), '{"topic":"job.shell.rm","tenant":"x"}\n{"topic":"job.echo"}\n');
    const fromFile = await cli([
      'policy',
      'simulate',
      '-b',
      'candidate.yaml',
      '--requests',
      'requests.jsonl',
      '-r',
      '{"topic":"job.shell.x"}',
    ]);
    expect(fromFile.code).toBe(0);
    expect(fromFile.stdout).toMatch(/^request: DENY by rule no-shell \(snapshot \S+@2\): no shell$/m);
    // The kernel replays --request too: 2 shell requests change, the echo one does not.
    expect(fromFile.stdout).toMatch(/^rule no-shell: decides 2, changed 2$/m);
    expect(fromFile.stdout).toMatch(
      /^ {2}request \(tenant x, job\.shell\.rm\): ALLOW by shell-ok -> DENY by no-shell: no shell$/m,
    );
    expect(fromFile.stdout).not.toContain('rule deploys:');
    expect(fromFile.stdout).toMatch(/summary: 2 of 3 replayed requests would change decision\n$/);

    const nothing = await cli(['policy', 'simulate', '-b', 'candidate.yaml']);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toContain('nothing to simulate: pass --request JSON, --requests FILE');
  });

  it('approvals: list the pending ones, approve and reject them, and refuse a second decision', async () => {
    // Stands in for the scheduler: answers the kernel's approval notice with the job's new state.
    const decided: string[] = [];
    const sub = nc.subscribe(CapstanSubjects.ctlJobApproval, {
      callback: (_err, msg) => {
        const notice = fromBinary(ApprovalDecidedSchema, msg.data);
        decided.push(notice.jobId);
        const state = notice.jobId === 'deploy-1' ? 'SCHEDULED' : 'DENIED';
        msg.respond(toBinary(ApprovalAppliedSchema, create(ApprovalAppliedSchema, { found: true, jobState: state })));
      },
    });
    try {
      const safety = createClient(SafetyKernel, transport());
      const first = await safety.check({ jobId: 'deploy-1', topic: 'job.deploy.prod', tenant: 'approvals' });
      const second = await safety.check({ jobId: 'deploy-2', topic: 'job.deploy.staging', tenant: 'approvals' });
      expect(first.approvalRef).toMatch(/^apr_/);

      const pending = await cli(['approvals', 'list', '--state', 'pending', '--tenant', 'approvals']);
      expect(pending.code).toBe(0);
      const rows = pending.stdout.trimEnd().split('\n');
      expect(rows[0]).toMatch(/^APPROVAL +STATE +TENANT +TOPIC +JOB +RULE +CREATED$/);
      expect(rows.slice(1).map((r) => r.split(/ +/).slice(0, 6))).toEqual(
        expect.arrayContaining([
          [first.approvalRef, 'PENDING', 'approvals', 'job.deploy.prod', 'deploy-1', 'deploys'],
          [second.approvalRef, 'PENDING', 'approvals', 'job.deploy.staging', 'deploy-2', 'deploys'],
        ]),
      );

      const approved = await cli([
        'approvals',
        'approve',
        first.approvalRef,
        '--by',
        'ann',
        '--reason',
        'release window',
      ]);
      expect(approved.stderr).toBe('');
      expect(approved.stdout).toBe(`${first.approvalRef} APPROVED by ann; job deploy-1 is now SCHEDULED\n`);
      const rejected = await cli(['approvals', 'reject', second.approvalRef, '--by', 'bob']);
      expect(rejected.stdout).toBe(`${second.approvalRef} REJECTED by bob; job deploy-2 is now DENIED\n`);
      expect(decided).toEqual(['deploy-1', 'deploy-2']);

      const shown = await cli(['approvals', 'show', first.approvalRef]);
      expect(shown.stdout).toMatch(/^state: +APPROVED$/m);
      expect(shown.stdout).toMatch(/^decided by: +ann$/m);
      expect(shown.stdout).toMatch(/^decision reason: +release window$/m);
      expect((await cli(['approvals', 'list', '--state', 'rejected', '--tenant', 'approvals'])).stdout).toContain(
        `${second.approvalRef}  REJECTED`,
      );

      const again = await cli(['approvals', 'reject', first.approvalRef, '--by', 'bob']);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(
        /^capstan approvals reject: reject apr_\S+ failed \(failed_precondition\): .*APPROVED/,
      );
    } finally {
      sub.unsubscribe();
    }
  });
});
