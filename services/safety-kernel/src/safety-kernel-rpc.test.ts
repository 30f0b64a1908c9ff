import { writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import { join } from 'node:path';
import { create, fromBinary, toBinary, toJson } from '@bufbuild/protobuf';
import {
  ApprovalAppliedSchema,
  type ApprovalDecided,
  ApprovalDecidedSchema,
  ApprovalState,
  BundleIssueSchema,
} from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import { ActorType } from '@capstan/gen/cordum/agent/v1/job_pb';
import {
  DecisionType,
  type PolicyCheckRequest,
  PolicyCheckRequestSchema,
  PolicyCheckResponseSchema,
} from '@capstan/gen/cordum/agent/v1/safety_pb';
import { HealthCheckResponse_ServingStatus as ServingStatus } from '@capstan/gen/grpc/health/v1/health_pb';
import { CapstanSubjects, policyRequestHash } from '@capstan/protocol';
import { uniqueName } from '@capstan/testkit';
import { Code, ConnectError } from '@connectrpc/connect';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SafetyKernelService } from './start-safety-kernel-service.js';
import {
  type CapturedLog,
  curlJson,
  type KernelClients,
  type KernelTestEnv,
  kernelClients,
  startKernelTestEnv,
  startTestKernel,
  TEST_BUNDLE,
} from './test-support/kernel-stack.js';

let env: KernelTestEnv;
let kernel: SafetyKernelService;
let log: CapturedLog;
let clients: KernelClients;
let nc: NatsConnection;
const decided: ApprovalDecided[] = [];

beforeAll(async () => {
  env = await startKernelTestEnv('sk_rpc');
  const file = join(env.dir, 'policy.yaml');
  await writeFile(file, TEST_BUNDLE);
  ({ kernel, log } = await startTestKernel(env, { policyFile: file }));
  clients = kernelClients(kernel.url);
  // Stands in for the scheduler: answers ApprovalDecided like it would after applying the approval.
  nc = await connect({ servers: env.natsUrl });
  nc.subscribe(CapstanSubjects.ctlJobApproval, {
    callback: (_err, msg) => {
      decided.push(fromBinary(ApprovalDecidedSchema, msg.data));
      msg.respond(
        toBinary(ApprovalAppliedSchema, create(ApprovalAppliedSchema, { found: true, jobState: 'SCHEDULED' })),
      );
    },
  });
  await nc.flush();
});

afterAll(async () => {
  clients?.close();
  await nc?.close();
  await kernel?.stop();
  await env?.close();
});

const req = (init: Parameters<typeof create<typeof PolicyCheckRequestSchema>>[1]): PolicyCheckRequest =>
  create(PolicyCheckRequestSchema, init);

/** One unary gRPC call with a raw message body; returns grpc-status and grpc-message. */
function rawGrpcCall(url: string, path: string, message: Uint8Array): Promise<{ status: string; message: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.on('error', reject);
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const frame = Buffer.alloc(5 + message.byteLength);
    frame.writeUInt32BE(message.byteLength, 1);
    frame.set(message, 5);
    stream.on('trailers', (trailers) => {
      resolve({ status: String(trailers['grpc-status']), message: String(trailers['grpc-message'] ?? '') });
      session.close();
    });
    stream.on('response', (headers) => {
      // Trailers-only responses carry the status in the headers.
      if (headers['grpc-status'] !== undefined) {
        resolve({ status: String(headers['grpc-status']), message: String(headers['grpc-message'] ?? '') });
        session.close();
      }
    });
    stream.on('data', () => {});
    stream.on('error', reject);
    stream.end(frame);
  });
}

async function rpcError(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error('expected the call to fail');
}

describe('SafetyKernel over Connect, gRPC and curl', () => {
  it('answers the same requests identically over Connect (HTTP/1.1), gRPC (HTTP/2) and curl JSON', async () => {
    const tenant = uniqueName('t');
    const requests = [
      req({ topic: 'job.echo', tenant, jobId: 'j-echo' }),
      req({ topic: 'job.danger.rm', tenant, jobId: 'j-danger' }),
      req({
        topic: 'job.build',
        tenant,
        jobId: 'j-code',
        meta: { capability: 'code.write', actorType: ActorType.HUMAN },
      }),
      req({ topic: 'job.deploy', tenant, jobId: 'j-deploy', labels: { env: 'prod' } }),
      req({ topic: 'job.unknown', tenant }),
    ];
    for (const r of requests) {
      const viaConnect = toJson(PolicyCheckResponseSchema, await clients.connect.check(r));
      const viaGrpc = toJson(PolicyCheckResponseSchema, await clients.grpc.check(r));
      const viaCurl = await curlJson(
        `${kernel.url}/cordum.agent.v1.SafetyKernel/Check`,
        toJson(PolicyCheckRequestSchema, r),
      );
      expect(viaCurl.status).toBe(200);
      expect(viaGrpc).toEqual(viaConnect);
      expect(viaCurl.json).toEqual(viaConnect);
    }
    const [echo, danger, code, deploy, unknown] = await Promise.all(requests.map((r) => clients.connect.check(r)));
    expect(echo).toMatchObject({
      decision: DecisionType.ALLOW,
      ruleId: 'allow-echo',
      policySnapshot: kernel.activeSnapshot(),
    });
    expect(danger).toMatchObject({ decision: DecisionType.DENY, reason: 'dangerous topics are not allowed' });
    expect(danger?.remediations[0]).toMatchObject({ id: 'use-safe', replacementTopic: 'job.safe' });
    expect(code).toMatchObject({ decision: DecisionType.ALLOW_WITH_CONSTRAINTS, ruleId: 'bounded-code' });
    expect(code?.constraints?.budgets).toMatchObject({ maxRuntimeMs: 60000n, maxRetries: 1 });
    expect(deploy).toMatchObject({ decision: DecisionType.REQUIRE_HUMAN, approvalRequired: true });
    expect(deploy?.approvalRef).toMatch(/^apr_[0-9a-f]{20}$/);
    expect(unknown).toMatchObject({ decision: DecisionType.DENY, ruleId: 'default', reason: 'nothing matched' });
    // The curl example of the docs, verbatim.
    const doc = await curlJson(`${kernel.url}/cordum.agent.v1.SafetyKernel/Check`, '{"topic":"job.echo"}');
    expect(doc.json).toMatchObject({ decision: 'DECISION_TYPE_ALLOW', ruleId: 'allow-echo' });
  });

  it('Evaluate has no side effects; Explain returns the readable trace; ListSnapshots lists the active snapshot', async () => {
    const tenant = uniqueName('t');
    const deploy = req({ topic: 'job.deploy', tenant, jobId: uniqueName('j') });
    const evaluated = await clients.grpc.evaluate(deploy);
    expect(evaluated).toMatchObject({ decision: DecisionType.REQUIRE_HUMAN, approvalRequired: true, approvalRef: '' });
    const approvals = await env.store.db
      .selectFrom('policy_approvals')
      .selectAll()
      .where('tenant', '=', tenant)
      .execute();
    expect(approvals).toEqual([]);
    for (let i = 0; i < 10; i++) {
      expect((await clients.connect.evaluate(req({ topic: 'job.llm', tenant }))).ruleId).toBe('allow-llm');
    }

    const explained = await clients.connect.explain(req({ topic: 'job.deploy', tenant }));
    expect(explained.decision).toBe(DecisionType.REQUIRE_HUMAN);
    expect(explained.reason.split('\n')).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^policy .+: REQUIRE_HUMAN by rule approve-deploy — deploys need a human$/),
        ' - 1. allow-echo: no match: topic "job.deploy" does not match [job.echo]',
        '=> 4. approve-deploy: matched; decides',
      ]),
    );
    const snapshots = await clients.grpc.listSnapshots({});
    expect(snapshots.snapshots[0]).toBe(kernel.activeSnapshot());
  });

  it('Simulate evaluates the candidate bundle carried in effective_config, or the active bundle when empty', async () => {
    const candidate =
      'default_decision: allow\nrules:\n  - id: no-echo\n    match: { topics: [job.echo] }\n    decision: deny\n';
    const withCandidate = await clients.grpc.simulate(
      req({ topic: 'job.echo', effectiveConfig: new TextEncoder().encode(candidate) }),
    );
    expect(withCandidate).toMatchObject({ decision: DecisionType.DENY, ruleId: 'no-echo' });
    expect(withCandidate.policySnapshot).not.toBe(kernel.activeSnapshot());
    const viaCurl = await curlJson(`${kernel.url}/cordum.agent.v1.SafetyKernel/Simulate`, {
      topic: 'job.echo',
      effectiveConfig: Buffer.from(candidate).toString('base64'),
    });
    expect(viaCurl.json).toMatchObject({ decision: 'DECISION_TYPE_DENY', ruleId: 'no-echo' });
    const active = await clients.connect.simulate(req({ topic: 'job.echo' }));
    expect(active).toMatchObject({ decision: DecisionType.ALLOW, ruleId: 'allow-echo' });

    const broken = await rpcError(
      clients.grpc.simulate(
        req({
          topic: 'job.echo',
          effectiveConfig: new TextEncoder().encode('rules:\n  - id: x\n    decison: allow\n'),
        }),
      ),
    );
    expect(broken.code).toBe(Code.InvalidArgument);
    expect(broken.rawMessage).toMatch(/effective_config: invalid policy bundle/);
    expect(broken.rawMessage).toMatch(/<effective_config>:3:5: rules\[0\]\.decison/);
    const issues = broken.findDetails(BundleIssueSchema);
    expect(issues.length).toBeGreaterThan(0);
    expect(issues.find((i) => i.path === 'rules[0].decison')).toMatchObject({ line: 3, column: 5 });
    const notUtf8 = await rpcError(
      clients.connect.simulate(req({ topic: 'job.echo', effectiveConfig: new Uint8Array([0xff, 0xfe, 0x80]) })),
    );
    expect(notUtf8.code).toBe(Code.InvalidArgument);
    expect(notUtf8.rawMessage).toMatch(/^effective_config: is not UTF-8/);
  });

  it('rejects malformed input with INVALID_ARGUMENT naming the field, over every protocol, and keeps serving', async () => {
    for (const client of [clients.connect, clients.grpc]) {
      const missing = await rpcError(client.check(req({ tenant: 'acme' })));
      expect(missing.code).toBe(Code.InvalidArgument);
      expect(missing.rawMessage).toMatch(/^topic: is required/);
      const badTopic = await rpcError(client.evaluate(req({ topic: 'job echo' })));
      expect(badTopic.rawMessage).toMatch(/^topic: "job echo" is not a topic/);
      const cost = await rpcError(client.check(req({ topic: 'job.echo', estimatedCost: Number.NaN })));
      expect(cost.rawMessage).toMatch(/^estimated_cost: NaN is not a cost/);
      const long = await rpcError(client.check(req({ topic: 'job.echo', jobId: 'x'.repeat(300) })));
      expect(long.rawMessage).toMatch(/^job_id: 300 characters/);
    }
    const noTopic = await curlJson(`${kernel.url}/cordum.agent.v1.SafetyKernel/Check`, {});
    expect(noTopic).toMatchObject({ status: 400, json: { code: 'invalid_argument' } });
    expect(noTopic.json.message).toMatch(/^topic: is required/);
    const wrongType = await curlJson(`${kernel.url}/cordum.agent.v1.SafetyKernel/Check`, { topic: 5 });
    expect(wrongType).toMatchObject({ status: 400, json: { code: 'invalid_argument' } });
    expect(wrongType.json.message).toMatch(/topic/);
    const typo = await curlJson(`${kernel.url}/cordum.agent.v1.SafetyKernel/Check`, { topc: 'job.echo' });
    expect(typo).toMatchObject({ status: 400, json: { code: 'invalid_argument' } });
    expect(typo.json.message).toMatch(/topc/);
    const notJson = await curlJson(`${kernel.url}/cordum.agent.v1.SafetyKernel/Check`, '{"topic":');
    expect(notJson).toMatchObject({ status: 400, json: { code: 'invalid_argument' } });
    // Garbage protobuf bytes (field 2 claims a length far past the end) over the Connect protocol.
    const garbageBytes = new Uint8Array([0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
    const garbage = await fetch(`${kernel.url}/cordum.agent.v1.SafetyKernel/Check`, {
      method: 'POST',
      headers: { 'content-type': 'application/proto' },
      body: garbageBytes,
    });
    expect(garbage.status).toBe(400);
    const garbageBody = (await garbage.json()) as { code: string; message: string };
    expect(garbageBody.code).toBe('invalid_argument');
    expect(garbageBody.message).toMatch(/^request: cannot decode cordum\.agent\.v1\.PolicyCheckRequest: /);
    // The same bytes in a gRPC frame over HTTP/2.
    const grpcStatus = await rawGrpcCall(kernel.url, '/cordum.agent.v1.SafetyKernel/Check', garbageBytes);
    expect(grpcStatus.status).toBe(String(Code.InvalidArgument));
    expect(decodeURIComponent(grpcStatus.message)).toMatch(/^request: cannot decode/);
    const admin = await rpcError(clients.admin.approve({ approvalId: 'apr_x' }));
    expect(admin).toMatchObject({ code: Code.InvalidArgument });
    expect(admin.rawMessage).toMatch(/^approver: is required/);
    expect((await clients.grpc.check(req({ topic: 'job.echo' }))).decision).toBe(DecisionType.ALLOW);
  });

  it('throttles a velocity rule after N requests in the window, counted in Redis', async () => {
    const tenant = uniqueName('t');
    const decisions: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await (i % 2 ? clients.grpc : clients.connect).check(req({ topic: 'job.llm', tenant }));
      decisions.push(`${DecisionType[r.decision]}:${r.ruleId}`);
    }
    expect(decisions).toEqual([
      'ALLOW:allow-llm',
      'ALLOW:allow-llm',
      'ALLOW:allow-llm',
      'THROTTLE:throttle-llm',
      'THROTTLE:throttle-llm',
    ]);
    // Another tenant has its own window.
    expect((await clients.connect.check(req({ topic: 'job.llm', tenant: uniqueName('t') }))).ruleId).toBe('allow-llm');
  });
});

describe('approvals', () => {
  it('REQUIRE_HUMAN creates one approval per request binding, re-checks reuse it, and approve notifies the scheduler', async () => {
    const tenant = uniqueName('t');
    const jobId = uniqueName('job');
    const request = req({ topic: 'job.deploy', tenant, jobId, principalId: 'alice' });
    const first = await clients.grpc.check(request);
    const again = await clients.connect.check(request);
    expect(again.approvalRef).toBe(first.approvalRef);
    const rows = await env.store.db.selectFrom('policy_approvals').selectAll().where('job_id', '=', jobId).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      approval_id: first.approvalRef,
      state: 'PENDING',
      request_hash: policyRequestHash(request),
      policy_snapshot: kernel.activeSnapshot(),
      rule_id: 'approve-deploy',
      reason: 'deploys need a human',
      tenant,
      principal_id: 'alice',
    });
    const listed = await clients.admin.listApprovals({ state: ApprovalState.PENDING, tenant });
    expect(listed.approvals.map((a) => a.approvalId)).toEqual([first.approvalRef]);
    expect((await clients.grpcAdmin.getApproval({ jobId })).approvalId).toBe(first.approvalRef);

    const approved = await clients.admin.approve({
      approvalId: first.approvalRef,
      approver: 'bob',
      reason: 'looks fine',
    });
    expect(approved.jobState).toBe('SCHEDULED');
    expect(approved.approval).toMatchObject({
      state: ApprovalState.APPROVED,
      decidedBy: 'bob',
      decisionReason: 'looks fine',
    });
    expect(decided.find((d) => d.approvalId === first.approvalRef)).toMatchObject({ jobId, tenant });
    const row = await env.store.db
      .selectFrom('policy_approvals')
      .selectAll()
      .where('approval_id', '=', first.approvalRef)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ state: 'APPROVED', decided_by: 'bob', decision_reason: 'looks fine' });
    expect(row.decided_at).toBeInstanceOf(Date);

    const twice = await rpcError(clients.admin.reject({ approvalId: first.approvalRef, approver: 'carol' }));
    expect(twice.code).toBe(Code.FailedPrecondition);
    expect(twice.rawMessage).toMatch(/is APPROVED \(by bob\); only PENDING approvals can be decided/);

    // The decision was recorded with its approval ref.
    const history = await clients.admin.listDecisions({ jobId });
    expect(history.decisions.map((d) => [d.decision, d.approvalRef])).toEqual([
      ['REQUIRE_HUMAN', first.approvalRef],
      ['REQUIRE_HUMAN', first.approvalRef],
    ]);
    expect(history.decisions[0]?.request?.principalId).toBe('alice');
  });

  it('reject sends ApprovalDecided and ends the approval REJECTED', async () => {
    const jobId = uniqueName('job');
    const { approvalRef } = await clients.connect.check(req({ topic: 'job.deploy', tenant: 'acme', jobId }));
    const rejected = await clients.grpcAdmin.reject({ approvalId: approvalRef, approver: 'dave', reason: 'not today' });
    expect(rejected.approval?.state).toBe(ApprovalState.REJECTED);
    expect(rejected.jobState).toBe('SCHEDULED');
    expect(decided.map((d) => d.approvalId)).toContain(approvalRef);
    const row = await env.store.db
      .selectFrom('policy_approvals')
      .select(['state', 'decided_by'])
      .where('approval_id', '=', approvalRef)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ state: 'REJECTED', decided_by: 'dave' });
  });

  it('an expired approval cannot be decided and is marked EXPIRED', async () => {
    const jobId = uniqueName('job');
    const { approvalRef } = await clients.connect.check(req({ topic: 'job.deploy', tenant: 'acme', jobId }));
    await env.store.db
      .updateTable('policy_approvals')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('approval_id', '=', approvalRef)
      .execute();
    const before = decided.length;
    const err = await rpcError(clients.admin.approve({ approvalId: approvalRef, approver: 'bob' }));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toMatch(new RegExp(`approval ${approvalRef} expired at .*; it can no longer be decided`));
    expect(decided.length).toBe(before);
    expect((await clients.admin.getApproval({ approvalId: approvalRef })).state).toBe(ApprovalState.EXPIRED);
    const missing = await rpcError(clients.admin.approve({ approvalId: 'apr_00000000000000000000', approver: 'bob' }));
    expect(missing.code).toBe(Code.NotFound);
  });
});

describe('health', () => {
  it('reports SERVING for the server and both services, NOT_FOUND for others, and lists them', async () => {
    for (const service of ['', 'cordum.agent.v1.SafetyKernel', 'capstan.policy.v1.PolicyAdmin']) {
      expect((await clients.health.check({ service })).status).toBe(ServingStatus.SERVING);
    }
    const unknown = await rpcError(clients.health.check({ service: 'nope.Service' }));
    expect(unknown.code).toBe(Code.NotFound);
    const list = await clients.health.list({});
    expect(Object.keys(list.statuses).sort()).toEqual([
      '',
      'capstan.policy.v1.PolicyAdmin',
      'cordum.agent.v1.SafetyKernel',
    ]);
  });

  it('Watch streams SERVING, then NOT_SERVING when the kernel stops', async () => {
    const { kernel: other } = await startTestKernel(env);
    const c = kernelClients(other.url);
    try {
      const seen: ServingStatus[] = [];
      const watching = (async () => {
        for await (const r of c.health.watch({ service: 'cordum.agent.v1.SafetyKernel' })) seen.push(r.status);
      })().catch(() => {});
      const unknown: ServingStatus[] = [];
      const ac = new AbortController();
      const watchingUnknown = (async () => {
        for await (const r of c.health.watch({ service: 'nope' }, { signal: ac.signal })) {
          unknown.push(r.status);
          ac.abort();
        }
      })().catch(() => {});
      await expect.poll(() => seen).toEqual([ServingStatus.SERVING]);
      await watchingUnknown;
      expect(unknown).toEqual([ServingStatus.SERVICE_UNKNOWN]);
      await other.stop();
      await watching;
      expect(seen).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    } finally {
      c.close();
      await other.stop();
    }
  });
});

describe('logs', () => {
  it('logged the startup snapshot', () => {
    expect(log.text()).toMatch(/safety kernel ready/);
  });
});
