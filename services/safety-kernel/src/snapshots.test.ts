import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { create, fromBinary } from '@bufbuild/protobuf';
import {
  BundleIssueSchema,
  BundleTestOutcomeSchema,
  type PolicyChanged,
  PolicyChangedSchema,
} from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import { DecisionType, PolicyCheckRequestSchema } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { CapstanSubjects } from '@capstan/protocol';
import { uniqueName } from '@capstan/testkit';
import { Code, ConnectError } from '@connectrpc/connect';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PolicyFileError } from './errors.js';
import type { SafetyKernelService } from './start-safety-kernel-service.js';
import {
  type CapturedLog,
  type KernelClients,
  type KernelTestEnv,
  kernelClients,
  startKernelTestEnv,
  startTestKernel,
  TEST_BUNDLE,
} from './test-support/kernel-stack.js';

let env: KernelTestEnv;
let nc: NatsConnection;
const announced: PolicyChanged[] = [];
const running: { kernel: SafetyKernelService; clients: KernelClients; log: CapturedLog }[] = [];

beforeAll(async () => {
  env = await startKernelTestEnv('sk_snap');
  nc = await connect({ servers: env.natsUrl });
  nc.subscribe(CapstanSubjects.policyChanged, {
    callback: (_err, msg) => announced.push(fromBinary(PolicyChangedSchema, msg.data)),
  });
  await nc.flush();
});

afterAll(async () => {
  for (const r of running) {
    r.clients.close();
    await r.kernel.stop();
  }
  await nc?.close();
  await env?.close();
});

async function replica(overrides: Parameters<typeof startTestKernel>[1] = {}) {
  const { kernel, log } = await startTestKernel(env, overrides);
  const r = { kernel, log, clients: kernelClients(kernel.url) };
  running.push(r);
  return r;
}

async function rpcError(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error('expected the call to fail');
}

const echo = create(PolicyCheckRequestSchema, { topic: 'job.echo', tenant: 'acme' });
const ALLOW_ALL = 'default_decision: allow\nrules: []\n';

// The tests of this file run in order on one database: each starts where the previous one left the snapshots.
describe('snapshots across replicas', () => {
  let a: Awaited<ReturnType<typeof replica>>;
  let b: Awaited<ReturnType<typeof replica>>;
  let builtin: string;
  let loaded: string;

  it('starts on the built-in deny-all bundle when nothing is configured, and says how to load one', async () => {
    a = await replica();
    builtin = a.kernel.activeSnapshot();
    const r = await a.clients.connect.check(echo);
    expect(r).toMatchObject({ decision: DecisionType.DENY, ruleId: 'default', policySnapshot: builtin });
    expect(r.reason).toMatch(/CAPSTAN_POLICY_FILE/);
    expect(a.log.lines.find((l) => l.level === 40 && /no policy bundle configured/.test(String(l.msg)))).toBeDefined();
    expect((await a.clients.admin.listBundles({})).snapshots[0]).toMatchObject({
      snapshotId: builtin,
      source: 'default',
    });
    // A second replica takes the newest activation from the database.
    b = await replica();
    expect(b.kernel.activeSnapshot()).toBe(builtin);
    expect((await b.clients.admin.listActivations({})).activations).toHaveLength(1);
  });

  it('upload + activate on one replica switches the other (ListSnapshots and Check), announced on the bus', async () => {
    const uploaded = await a.clients.admin.uploadBundle({
      bundleYaml: TEST_BUNDLE,
      file: 'team.yaml',
      activate: true,
      actor: 'alice',
    });
    loaded = uploaded.snapshot?.snapshotId ?? '';
    expect(loaded).toMatch(/^[0-9a-f]{16}@t1$/);
    expect(uploaded.snapshot).toMatchObject({ active: true, ruleCount: 6, source: 'admin', activatedBy: 'alice' });
    expect(uploaded.tests).toEqual([expect.objectContaining({ name: 'echo allowed', passed: true })]);
    expect(a.kernel.activeSnapshot()).toBe(loaded);
    await expect.poll(() => b.kernel.activeSnapshot()).toBe(loaded);
    expect((await b.clients.grpc.listSnapshots({})).snapshots).toEqual([loaded, builtin]);
    expect(await b.clients.grpc.check(echo)).toMatchObject({ decision: DecisionType.ALLOW, policySnapshot: loaded });
    await expect
      .poll(() => announced.find((m) => m.snapshotId === loaded))
      .toMatchObject({ previousSnapshotId: builtin, actor: 'alice', source: 'admin', cacheable: false });

    // The same content again is the same snapshot, and activating the active snapshot records nothing.
    const again = await b.clients.grpcAdmin.uploadBundle({ bundleYaml: TEST_BUNDLE, activate: true, actor: 'bob' });
    expect(again.snapshot?.snapshotId).toBe(loaded);
    expect((await a.clients.admin.listActivations({})).activations.map((x) => x.snapshotId)).toEqual([loaded, builtin]);
    const bundle = await b.clients.admin.getBundle({});
    expect(bundle).toMatchObject({ bundleYaml: TEST_BUNDLE, snapshot: { snapshotId: loaded, active: true } });
  });

  it('rejects an invalid bundle with positioned issues and keeps the active snapshot', async () => {
    const broken =
      'rules:\n  - id: a\n    match: { topics: ["job..x"] }\n    decison: allow\n  - id: b\n    when: "request.topic =="\n    decision: deny\n';
    const err = await rpcError(
      a.clients.grpcAdmin.uploadBundle({ bundleYaml: broken, file: 'bad.yaml', activate: true }),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/^bundle_yaml: invalid policy bundle \(\d+ issues\):/);
    expect(err.rawMessage).toMatch(/bad\.yaml:4:5: rules\[0\]\.decison/);
    expect(err.rawMessage).toMatch(/bad\.yaml:6:\d+: rules\[1\]\.when: CEL/);
    const issues = err.findDetails(BundleIssueSchema);
    expect(issues.map((i) => `${i.file}:${i.line}:${i.path}`)).toEqual(
      expect.arrayContaining(['bad.yaml:4:rules[0].decison', 'bad.yaml:6:rules[1].when']),
    );
    const validated = await a.clients.admin.validateBundle({ bundleYaml: broken, file: 'bad.yaml' });
    expect(validated.valid).toBe(false);
    expect(validated.issues.length).toBe(issues.length);

    const huge = `rules: []\n# ${'x'.repeat(1024 * 1024)}\n`;
    const tooBig = await rpcError(a.clients.admin.uploadBundle({ bundleYaml: huge, activate: true }));
    expect(tooBig.code).toBe(Code.InvalidArgument);
    expect(tooBig.rawMessage).toMatch(/<bundle>:1:1: bundle is \d+ bytes; expected at most 1048576 bytes/);

    const failing = `${ALLOW_ALL}tests:\n  - name: echo denied\n    request: { topic: job.echo }\n    expect: { decision: deny }\n`;
    const refused = await rpcError(
      a.clients.admin.uploadBundle({ bundleYaml: failing, activate: true, requireTestsPass: true }),
    );
    expect(refused.code).toBe(Code.FailedPrecondition);
    expect(refused.findDetails(BundleTestOutcomeSchema)).toEqual([
      expect.objectContaining({ name: 'echo denied', passed: false, actualDecision: 'allow' }),
    ]);
    expect((await a.clients.admin.listBundles({})).snapshots).toHaveLength(2);
    expect(a.kernel.activeSnapshot()).toBe(loaded);
    expect(b.kernel.activeSnapshot()).toBe(loaded);
    expect((await rpcError(a.clients.admin.activateSnapshot({ snapshotId: 'feedfacefeedface' }))).code).toBe(
      Code.NotFound,
    );
  });

  it('rolls back to the previous snapshot on every replica, audited', async () => {
    const back = await b.clients.admin.rollback({ actor: 'carol', reason: 'bad deploy' });
    expect(back).toMatchObject({ previousSnapshotId: loaded, snapshot: { snapshotId: builtin, active: true } });
    await expect.poll(() => a.kernel.activeSnapshot()).toBe(builtin);
    const trail = (await a.clients.admin.listActivations({ limit: 1 })).activations[0];
    expect(trail).toMatchObject({
      snapshotId: builtin,
      previousSnapshotId: loaded,
      actor: 'carol',
      source: 'rollback',
    });
    await expect.poll(() => announced.at(-1)).toMatchObject({ snapshotId: builtin, source: 'rollback' });
    await a.clients.grpcAdmin.activateSnapshot({ snapshotId: loaded, actor: 'carol', reason: 'fixed' });
    await expect.poll(() => b.kernel.activeSnapshot()).toBe(loaded);
  });

  it('Simulate compares a candidate with the active bundle on inline requests and replayed history', async () => {
    const tenant = uniqueName('sim');
    const history = [
      { topic: 'job.echo', tenant, jobId: 'h1' },
      { topic: 'job.echo', tenant, jobId: 'h2' },
      { topic: 'job.deploy', tenant, jobId: 'h3' },
      { topic: 'job.danger.x', tenant, jobId: 'h4' },
    ];
    for (const h of history) await a.clients.connect.check(create(PolicyCheckRequestSchema, h));
    const candidate = `default_decision: deny
rules:
  - id: echo-off
    match: { topics: [job.echo] }
    decision: deny
    reason: echo is retired
  - id: deploy-ok
    match: { topics: [job.deploy] }
    decision: allow
  - id: danger
    match: { topics: ["job.danger.>"] }
    decision: deny
`;
    // On the replica that recorded them: it writes its queued decisions before replaying (others lag ~50 ms).
    const sim = await a.clients.grpcAdmin.simulate({
      bundleYaml: candidate,
      file: 'candidate.yaml',
      replayLast: 4,
      request: create(PolicyCheckRequestSchema, { topic: 'job.echo', tenant, jobId: 'inline' }),
      requests: [create(PolicyCheckRequestSchema, { topic: 'job.other', tenant, jobId: 'listed' })],
    });
    expect(sim.activeSnapshotId).toBe(loaded);
    expect(sim.candidateSnapshotId).not.toBe(loaded);
    expect(sim.response).toMatchObject({ decision: DecisionType.DENY, ruleId: 'echo-off', reason: 'echo is retired' });
    expect(sim.replayed).toBe(6);
    expect(sim.changed).toBe(4);
    expect(sim.changes.map((c) => `${c.jobId}:${c.beforeDecision}>${c.afterDecision}:${c.afterRuleId}`)).toEqual([
      'h1:ALLOW>DENY:echo-off',
      'h2:ALLOW>DENY:echo-off',
      'h3:REQUIRE_HUMAN>ALLOW:deploy-ok',
      'inline:ALLOW>DENY:echo-off',
    ]);
    expect(sim.rules).toEqual([
      expect.objectContaining({ ruleId: 'echo-off', selected: 3, changed: 3 }),
      expect.objectContaining({ ruleId: 'deploy-ok', selected: 1, changed: 1 }),
      expect.objectContaining({ ruleId: 'danger', selected: 1, changed: 0 }),
      expect.objectContaining({ ruleId: 'default', selected: 1, changed: 0 }),
    ]);
    const nothing = await rpcError(b.clients.admin.simulate({ bundleYaml: candidate }));
    expect(nothing.rawMessage).toMatch(/nothing to simulate/);
    const badRequest = await rpcError(
      b.clients.admin.simulate({ bundleYaml: candidate, requests: [create(PolicyCheckRequestSchema, {})] }),
    );
    expect(badRequest.rawMessage).toMatch(/^requests\[0\]\.topic: is required/);

    const explained = await a.clients.admin.explain({
      request: create(PolicyCheckRequestSchema, { topic: 'job.llm', tenant }),
    });
    expect(explained.response?.ruleId).toBe('allow-llm');
    expect(explained.trace.find((t) => t.ruleId === 'throttle-llm')).toMatchObject({
      matched: false,
      velocityLimit: 3n,
      velocityWindowMs: 60000n,
    });
    expect(explained.text).toMatch(/=> 6\. allow-llm: matched; decides/);
  });
});

describe('policy file', () => {
  it('hot-reloads on change (also when an editor replaces the file), rejects invalid edits, and every replica follows', async () => {
    const file = join(env.dir, 'policy.yaml');
    await writeFile(file, ALLOW_ALL);
    // The file is newer than the newest activation, so this replica activates it at startup.
    const c = await replica({ policyFile: file });
    const first = c.kernel.activeSnapshot();
    expect((await c.clients.connect.check(echo)).ruleId).toBe('default');
    expect((await c.clients.admin.getBundle({})).snapshot).toMatchObject({ source: `file:${file}` });
    const other = running[0]!;
    await expect.poll(() => other.kernel.activeSnapshot()).toBe(first);
    expect(announced.find((m) => m.snapshotId === first)).toMatchObject({ source: 'file', cacheable: true });

    await writeFile(file, `${ALLOW_ALL}# edited in place\n`);
    await expect.poll(() => c.kernel.activeSnapshot(), { timeout: 8000 }).not.toBe(first);
    const second = c.kernel.activeSnapshot();
    await expect.poll(() => other.kernel.activeSnapshot()).toBe(second);

    // An editor that writes a temp file and renames it over the original.
    const tmp = join(env.dir, '.policy.yaml.swp');
    await writeFile(
      tmp,
      'default_decision: deny\nrules:\n  - id: only-echo\n    match: { topics: [job.echo] }\n    decision: allow\n',
    );
    await rename(tmp, file);
    await expect.poll(() => c.kernel.activeSnapshot(), { timeout: 8000 }).not.toBe(second);
    const third = c.kernel.activeSnapshot();
    expect((await c.clients.grpc.check(echo)).ruleId).toBe('only-echo');

    await writeFile(file, 'rules:\n  - id: x\n    decision: allow\n    match: { topcs: [job.echo] }\n');
    await expect
      .poll(() => c.log.lines.find((l) => /policy file change rejected/.test(String(l.msg))), { timeout: 8000 })
      .toBeDefined();
    const rejected = c.log.lines.find((l) => /policy file change rejected/.test(String(l.msg)));
    expect(rejected?.msg).toMatch(new RegExp(`${file.replace(/[.]/g, '\\.')}:4:14: rules\\[0\\]\\.match\\.topcs`));
    expect(rejected?.msg).toMatch(new RegExp(`snapshot ${third} stays active`));
    expect(c.kernel.activeSnapshot()).toBe(third);
    expect(other.kernel.activeSnapshot()).toBe(third);
  });

  it('refuses to start on an invalid policy file, with positions', async () => {
    const file = join(env.dir, 'broken.yaml');
    await writeFile(file, 'default_decision: maybe\nrules: []\n');
    const err = await startTestKernel(env, { policyFile: file }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PolicyFileError);
    expect((err as Error).message).toMatch(/broken\.yaml:1:19: default_decision/);
    const missing = await startTestKernel(env, { policyFile: join(env.dir, 'nope.yaml') }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((missing as Error).message).toMatch(/cannot read policy file .*nope\.yaml/);
  });
});
