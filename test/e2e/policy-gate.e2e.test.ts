/**
 * The policy gate end to end, through the deployables: a real safety kernel service (two replicas), a real
 * scheduler service calling it over gRPC, a Capstan SDK worker, and a client submitting on `sys.job.submit` —
 * on real NATS, Redis and Postgres. What the unit and component tests cannot show: that the pieces agree.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { type Bus, createBus } from '@capstan/bus';
import { loadConfig } from '@capstan/config';
import { PolicyAdmin } from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import { PolicyCheckRequestSchema, SafetyKernel } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { createPointerStore, type PointerStore } from '@capstan/pointers';
import {
  type SafetyKernelService,
  safetyKernelConfigSpec,
  startSafetyKernelService,
} from '@capstan/safety-kernel-service';
import { type SchedulerService, schedulerConfigSpec, startSchedulerService } from '@capstan/scheduler-service';
import { createDatabase, migrateToLatest, type StoreDatabase } from '@capstan/store';
import { createTestDatabase, freePort, type NatsHandle, startNats, testServices, uniqueName } from '@capstan/testkit';
import { createClient as createJobClient, createWorker, type Worker } from '@capstan/worker';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BUNDLE = `version: e2e-1
default_decision: deny
default_reason: not covered by the e2e bundle
rules:
  - id: deny-shell
    match: { topics: ["job.e2e.shell.>"] }
    decision: deny
    reason: shell access is not allowed
  - id: deploy-needs-human
    match: { topics: ["job.e2e.deploy.>"] }
    decision: require_human
    reason: deploys need a human
  - id: allow-e2e
    match: { topics: ["job.e2e.>"] }
    decision: allow
`;

const silent = pino({ level: 'silent' });
let nats: NatsHandle;
let dir: string;
let bundleFile: string;
let dbUrl: string;
let dropDb: () => Promise<void>;
let store: StoreDatabase;
let kernelPort: number;
const kernels: SafetyKernelService[] = [];
let scheduler: SchedulerService;
let bus: Bus;
let pointers: PointerStore;
let worker: Worker;
let ran: string[];

const kernelConfig = (port: number) => ({
  ...loadConfig(safetyKernelConfigSpec, { env: {}, file: null }),
  natsUrl: nats.url,
  redisUrl: testServices().redisUrl,
  databaseUrl: dbUrl,
  logLevel: 'silent' as const,
  listenHost: '127.0.0.1',
  port,
  metricsPort: 0,
  policyFile: bundleFile,
});

beforeAll(async () => {
  nats = await startNats({ jetstream: true });
  dir = await mkdtemp(join(tmpdir(), 'capstan-e2e-policy-'));
  bundleFile = join(dir, 'policy.yaml');
  await writeFile(bundleFile, BUNDLE);
  const db = await createTestDatabase(testServices().databaseUrl, 'e2e');
  dbUrl = db.url;
  dropDb = db.drop;
  store = await createDatabase({ url: dbUrl });
  await migrateToLatest(store.db);
  kernelPort = await freePort();
  kernels.push(await startSafetyKernelService(kernelConfig(kernelPort), { logger: silent }));
  kernels.push(await startSafetyKernelService(kernelConfig(await freePort()), { logger: silent }));
  scheduler = await startSchedulerService(
    {
      ...loadConfig(schedulerConfigSpec, { env: {}, file: null }),
      natsUrl: nats.url,
      databaseUrl: dbUrl,
      logLevel: 'silent',
      listenHost: '127.0.0.1',
      metricsPort: 0,
      schedulerId: 'e2e-scheduler',
      safetyKernelUrl: `http://127.0.0.1:${kernelPort}`,
      policyTimeoutMs: 500,
      policyBreakerHalfOpenMs: 300,
      approvalPollMs: 200,
    },
    { logger: silent, timings: { policyRecheckMs: 100, policyRecheckMaxMs: 300 } },
  );
  bus = await createBus({ servers: nats.url, senderId: 'e2e-client' });
  pointers = createPointerStore({ redis: testServices().redisUrl });
  ran = [];
  worker = await createWorker({
    servers: nats.url,
    pointers,
    topics: ['job.e2e.echo', 'job.e2e.shell.rm', 'job.e2e.deploy.prod', 'job.e2e.deploy.staging'],
    pool: 'e2e',
    workerId: uniqueName('e2e_worker'),
    heartbeatIntervalMs: 500,
    logger: silent,
    handler: async (_input, ctx) => {
      ran.push(ctx.jobId);
      return { ok: true };
    },
  });
  await new Promise((r) => setTimeout(r, 1200)); // the scheduler has seen the worker's heartbeats
});

afterAll(async () => {
  await worker?.shutdown();
  await bus?.close();
  await scheduler?.stop();
  for (const k of kernels) await k.stop().catch(() => {});
  await pointers?.close();
  await store?.close();
  await dropDb?.();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

const jobs = () => createJobClient({ bus, pointers });
const row = (jobId: string) => store.db.selectFrom('jobs').selectAll().where('job_id', '=', jobId).executeTakeFirst();

async function waitForState(jobId: string, states: string[], timeoutMs = 10_000) {
  await expect.poll(async () => (await row(jobId))?.state, { timeout: timeoutMs, interval: 50 }).toBeOneOf(states);
  return (await row(jobId))!;
}

/** The admin API of a kernel replica (the first by default). */
const admin = (baseUrl = `http://127.0.0.1:${kernelPort}`) =>
  createClient(PolicyAdmin, createConnectTransport({ baseUrl, httpVersion: '1.1' }));

describe('policy gate through the real kernel and scheduler', () => {
  it('allows, denies and records the snapshot and rule on the job', async () => {
    const snapshot = kernels[0]!.activeSnapshot();
    expect(snapshot).toMatch(/^[0-9a-f]{16}@e2e-1$/);
    const ok = await jobs().submit({ topic: 'job.e2e.echo', input: { n: 1 } });
    const denied = await jobs().submit({ topic: 'job.e2e.shell.rm', input: {} });
    expect(await waitForState(ok.jobId, ['SUCCEEDED'])).toMatchObject({
      decision: 'ALLOW',
      policy_snapshot: snapshot,
      rule_id: 'allow-e2e',
    });
    expect(await waitForState(denied.jobId, ['DENIED'])).toMatchObject({
      decision: 'DENY',
      rule_id: 'deny-shell',
      error_message: 'shell access is not allowed',
    });
    const dlq = await store.db.selectFrom('job_dlq').selectAll().where('job_id', '=', denied.jobId).executeTakeFirst();
    expect(dlq?.reason).toBe('safety_denied');
    expect(ran).toContain(ok.jobId);
    expect(ran).not.toContain(denied.jobId);
    // The kernel recorded the Check it answered.
    await expect
      .poll(async () => (await admin().listDecisions({ jobId: denied.jobId })).decisions.map((d) => d.ruleId))
      .toEqual(['deny-shell']);
  });

  it('approve releases a parked job to the worker; reject ends it DENIED', async () => {
    const a = await jobs().submit({ topic: 'job.e2e.deploy.prod', input: {} });
    const b = await jobs().submit({ topic: 'job.e2e.deploy.staging', input: {} });
    const parkedA = await waitForState(a.jobId, ['APPROVAL_REQUIRED']);
    const parkedB = await waitForState(b.jobId, ['APPROVAL_REQUIRED']);
    expect(parkedA.approval_ref).toMatch(/^apr_/);
    const pending = await admin().listApprovals({});
    expect(pending.approvals.map((x) => x.jobId)).toEqual(expect.arrayContaining([a.jobId, b.jobId]));

    const approved = await admin().approve({
      approvalId: parkedA.approval_ref,
      approver: 'alice',
      reason: 'change 42',
    });
    expect(approved.approval?.decidedBy).toBe('alice');
    expect(await waitForState(a.jobId, ['SUCCEEDED'])).toMatchObject({ decision: 'ALLOW' });
    expect(ran).toContain(a.jobId);

    // Reject through the other kernel replica: approvals live in the shared store.
    await admin(kernels[1]!.url).reject({
      approvalId: parkedB.approval_ref,
      approver: 'bob',
      reason: 'not today',
    });
    expect(await waitForState(b.jobId, ['DENIED'])).toMatchObject({ decision: 'DENY' });
    expect(ran).not.toContain(b.jobId);
    const dlq = await store.db.selectFrom('job_dlq').selectAll().where('job_id', '=', b.jobId).executeTakeFirst();
    expect(dlq?.reason).toBe('approval_rejected');
  });

  it('an activated bundle switches every kernel replica and the scheduler, whose next job is judged by it', async () => {
    const before = kernels[0]!.activeSnapshot();
    const strict = BUNDLE.replace('version: e2e-1', 'version: e2e-2').replace(
      '  - id: allow-e2e\n    match: { topics: ["job.e2e.>"] }\n    decision: allow\n',
      '  - id: echo-now-denied\n    match: { topics: ["job.e2e.echo"] }\n    decision: deny\n    reason: frozen\n  - id: allow-e2e\n    match: { topics: ["job.e2e.>"] }\n    decision: allow\n',
    );
    const uploaded = await admin().uploadBundle({ bundleYaml: strict, activate: true, actor: 'e2e' });
    const next = uploaded.snapshot!.snapshotId;
    expect(next).not.toBe(before);
    // The other replica switches through capstan.policy.changed; a plain gRPC client sees it.
    const grpc = createClient(SafetyKernel, createGrpcTransport({ baseUrl: kernels[1]!.url }));
    await expect
      .poll(async () => (await grpc.evaluate(create(PolicyCheckRequestSchema, { topic: 'job.e2e.echo' }))).ruleId)
      .toBe('echo-now-denied');
    expect(kernels[1]!.activeSnapshot()).toBe(next);
    const job = await jobs().submit({ topic: 'job.e2e.echo', input: {} });
    expect(await waitForState(job.jobId, ['DENIED'])).toMatchObject({
      policy_snapshot: next,
      rule_id: 'echo-now-denied',
    });

    // Rollback restores the previous snapshot everywhere.
    await admin().rollback({ actor: 'e2e', reason: 'undo' });
    await expect.poll(() => kernels[1]!.activeSnapshot()).toBe(before);
    const again = await jobs().submit({ topic: 'job.e2e.echo', input: {} });
    expect(await waitForState(again.jobId, ['SUCCEEDED'])).toMatchObject({ policy_snapshot: before });
  });

  it('kernel down: jobs wait (fail closed) and complete once it is back on its port', async () => {
    await kernels[0]!.stop();
    // A label no earlier job had: the scheduler's decision cache (per snapshot + request) cannot answer for it.
    const job = await jobs().submit({ topic: 'job.e2e.echo', input: {}, labels: { run: uniqueName('r') } });
    await expect.poll(async () => (await row(job.jobId))?.wait_reason, { timeout: 10_000 }).toBe('policy_unavailable');
    expect((await row(job.jobId))?.state).toBe('PENDING');
    expect(ran).not.toContain(job.jobId);
    kernels[0] = await startSafetyKernelService(kernelConfig(kernelPort), { logger: silent });
    expect(await waitForState(job.jobId, ['SUCCEEDED'], 15_000)).toMatchObject({ decision: 'ALLOW' });
  });
});
