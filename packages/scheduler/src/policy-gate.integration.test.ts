import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ApprovalAppliedSchema, ApprovalDecidedSchema } from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import { DecisionType, type PolicyCheckRequest } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { CapstanSubjects, policyRequestHash } from '@capstan/protocol';
import { createSafetyKernelPolicy, type SafetyKernelPolicy } from '@capstan/safety-client';
import { startTestSafetyKernel, type TestDecide, type TestSafetyKernel } from '@capstan/safety-client/testing';
import { uniqueName } from '@capstan/testkit';
import { Code, ConnectError } from '@connectrpc/connect';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SchedulerOptions } from './create-scheduler.js';
import { type Stack, startStack } from './test-support/stack.js';

let stack: Stack;
let kernel: TestSafetyKernel;
const policies: SafetyKernelPolicy[] = [];
beforeEach(async () => {
  stack = await startStack();
  kernel = await startTestSafetyKernel();
});
afterEach(async () => {
  await stack.stop();
  await Promise.all(policies.splice(0).map((p) => p.close()));
  await kernel.stop();
});

const topic = () => `job.${uniqueName('t')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A scheduler whose policy port is the real client over the test kernel. */
async function scheduler(
  opts: Partial<SchedulerOptions> = {},
  client: Parameters<typeof createSafetyKernelPolicy>[0] = { url: kernel.url },
) {
  const policy = createSafetyKernelPolicy(client);
  policies.push(policy);
  return stack.scheduler({
    policy,
    ...opts,
    timings: { policyRecheckMs: 100, policyRecheckMaxMs: 300, approvalPollMs: 100, ...opts.timings },
  });
}

const decideFor =
  (byTopic: Record<string, ReturnType<TestDecide>>): TestDecide =>
  (req) =>
    byTopic[req.topic] ?? { decision: DecisionType.ALLOW, policySnapshot: 'snap-1', ruleId: 'default-allow' };

describe('policy gate: decisions', () => {
  it('DENY → DENIED + DLQ safety_denied with the reason; nothing is dispatched', async () => {
    const tp = topic();
    kernel.decide = decideFor({
      [tp]: { decision: DecisionType.DENY, reason: 'risky topic', policySnapshot: 'snap-1', ruleId: 'deny-risky' },
    });
    await scheduler();
    const w = await stack.worker(tp);
    const req = await stack.submit(tp, {}, { tenantId: 'acme' });
    const row = await stack.terminal(req.jobId);
    expect(row).toMatchObject({
      state: 'DENIED',
      decision: 'DENY',
      decision_reason: 'risky topic',
      policy_snapshot: 'snap-1',
      rule_id: 'deny-risky',
      error_code: '300',
      error_message: 'risky topic',
    });
    expect(await stack.dlqOf(req.jobId)).toMatchObject({ reason: 'safety_denied', error_message: 'risky topic' });
    expect(kernel.calls.map((c) => [c.jobId, c.topic, c.tenant])).toEqual([[req.jobId, tp, 'acme']]);
    expect(w.received).toEqual([]);
  });

  it('a request the kernel refuses as INVALID_ARGUMENT is DENIED at once, not held forever', async () => {
    const tp = topic();
    kernel.decide = () => {
      throw new ConnectError('labels: key "bad key" is not allowed', Code.InvalidArgument);
    };
    await scheduler();
    const w = await stack.worker(tp);
    const req = await stack.submit(tp, {});
    const row = await stack.terminal(req.jobId);
    expect(row).toMatchObject({ state: 'DENIED', decision: 'DENY', error_code: '300', wait_reason: '' });
    expect(String(row['error_message'])).toMatch(/refused the request.*invalid_argument.*bad key/);
    expect(await stack.dlqOf(req.jobId)).toMatchObject({ reason: 'safety_denied' });
    expect(w.received).toEqual([]);
  });

  it('THROTTLE → the job waits and is re-checked; ALLOW then completes it', async () => {
    const tp = topic();
    let checks = 0;
    kernel.decide = () =>
      ++checks <= 2
        ? { decision: DecisionType.THROTTLE, reason: 'too many', policySnapshot: 'snap-1', ruleId: 'velocity' }
        : { decision: DecisionType.ALLOW, policySnapshot: 'snap-1', ruleId: 'allow' };
    await scheduler();
    await stack.worker(tp);
    const req = await stack.submit(tp, {});
    await stack.waitFor(req.jobId, (s, row) => s === 'PENDING' && row['wait_reason'] === 'throttled');
    const row = await stack.terminal(req.jobId);
    expect(row).toMatchObject({ state: 'SUCCEEDED', decision: 'ALLOW', rule_id: 'allow', wait_reason: '' });
    expect(kernel.calls).toHaveLength(3);
    expect((await stack.eventsOf(req.jobId)).map((e) => e.to_state)).toEqual([
      'PENDING',
      'SCHEDULED',
      'DISPATCHED',
      'SUCCEEDED',
    ]);
  });

  it('kernel down → jobs wait (fail closed) and complete when it comes back', async () => {
    const tp = topic();
    await scheduler({}, { url: kernel.url, timeoutMs: 200, breaker: { failureThreshold: 2, halfOpenAfterMs: 200 } });
    const w = await stack.worker(tp);
    await kernel.stop();
    const jobs = [await stack.submit(tp, {}), await stack.submit(tp, {})];
    for (const j of jobs) {
      await stack.waitFor(j.jobId, (s, row) => s === 'PENDING' && row['wait_reason'] === 'policy_unavailable');
    }
    await sleep(600);
    for (const j of jobs) expect((await stack.waitFor(j.jobId, () => true))['state']).toBe('PENDING');
    expect(w.received).toEqual([]);
    await kernel.start();
    for (const j of jobs) {
      expect(await stack.terminal(j.jobId)).toMatchObject({ state: 'SUCCEEDED', policy_snapshot: 'test-snapshot' });
    }
  });

  it('fail-open (configured) → the job completes, recorded, labelled and counted', async () => {
    const tp = topic();
    const s = await scheduler({ failOpen: true }, { url: kernel.url, timeoutMs: 200 });
    const w = await stack.worker(tp);
    await kernel.stop();
    const req = await stack.submit(tp, {});
    const row = await stack.terminal(req.jobId);
    expect(row).toMatchObject({
      state: 'SUCCEEDED',
      decision: 'ALLOW',
      policy_snapshot: 'fail-open',
      rule_id: 'fail-open',
    });
    expect(row['decision_reason']).toMatch(/^fail-open: safety kernel unavailable/);
    expect(w.requests[0]?.labels['capstan.policy']).toBe('fail-open');
    expect((await stack.eventsOf(req.jobId)).map((e) => e.reason)).toContain('policy_fail_open');
    expect(await s.metrics.getSingleMetricAsString('capstan_policy_fail_open_total')).toContain(
      'capstan_policy_fail_open_total 1',
    );
  });
});

describe('policy gate: approvals', () => {
  const human = (approvalRef: string) =>
    ({
      decision: DecisionType.REQUIRE_HUMAN,
      reason: 'a human must look',
      policySnapshot: 'snap-h',
      ruleId: 'needs-human',
      approvalRequired: true,
      approvalRef,
    }) as const;

  /** Inserts the approval row as the kernel would have, in `state`, bound to what the kernel received. */
  const insertApproval = async (
    approvalId: string,
    received: PolicyCheckRequest,
    state: string,
    o: { hash?: string; snapshot?: string; expiresInMs?: number } = {},
  ) => {
    await stack.db
      .insertInto('policy_approvals')
      .values({
        approval_id: approvalId,
        job_id: received.jobId,
        tenant: received.tenant,
        topic: received.topic,
        request_hash: o.hash ?? policyRequestHash(received),
        policy_snapshot: o.snapshot ?? 'snap-h',
        rule_id: 'needs-human',
        state,
        decided_by: state === 'PENDING' ? '' : 'alice',
        decision_reason: state === 'PENDING' ? '' : 'checked the diff',
        decided_at: state === 'PENDING' ? null : new Date(),
        expires_at: new Date(Date.now() + (o.expiresInMs ?? 3_600_000)),
      })
      .execute();
  };

  const decided = async (approvalId: string, jobId: string, tenant = 'default') => {
    const reply = await stack.client.nc.request(
      CapstanSubjects.ctlJobApproval,
      toBinary(ApprovalDecidedSchema, create(ApprovalDecidedSchema, { approvalId, jobId, tenant })),
      { timeout: 5000 },
    );
    return fromBinary(ApprovalAppliedSchema, reply.data);
  };

  it('REQUIRE_HUMAN parks the job; an APPROVED row + ctl message dispatches it', async () => {
    const tp = topic();
    kernel.decide = () => human('apr_1');
    // A long poll interval: only the ctl message can release the job in time.
    await scheduler({ timings: { approvalPollMs: 60_000, approvalPollMaxMs: 60_000 } });
    const w = await stack.worker(tp);
    const req = await stack.submit(tp, {});
    const parked = await stack.waitFor(req.jobId, (s) => s === 'APPROVAL_REQUIRED');
    expect(parked).toMatchObject({
      approval_ref: 'apr_1',
      decision: 'REQUIRE_HUMAN',
      policy_snapshot: 'snap-h',
      rule_id: 'needs-human',
      wait_reason: 'approval',
    });
    await sleep(200);
    expect(w.received).toEqual([]);
    await insertApproval('apr_1', kernel.calls[0]!, 'APPROVED');
    const applied = await decided('apr_1', req.jobId);
    expect(applied.found).toBe(true);
    expect(['DISPATCHED', 'RUNNING', 'SUCCEEDED']).toContain(applied.jobState);
    const row = await stack.terminal(req.jobId);
    expect(row).toMatchObject({
      state: 'SUCCEEDED',
      decision: 'ALLOW',
      decision_reason: 'approved by alice: checked the diff',
      policy_snapshot: 'snap-h',
    });
    expect((await stack.eventsOf(req.jobId)).map((e) => [e.to_state, e.reason])).toEqual([
      ['PENDING', 'accepted'],
      ['APPROVAL_REQUIRED', 'approval_required'],
      ['SCHEDULED', 'approved'],
      ['DISPATCHED', 'dispatched'],
      ['SUCCEEDED', 'worker_succeeded'],
    ]);
    expect(kernel.calls).toHaveLength(1);
    // Asking again about the same approval changes nothing.
    expect(await decided('apr_1', req.jobId)).toMatchObject({ found: true, jobState: 'SUCCEEDED' });
    expect(await decided('apr_nope', 'no-such-job')).toMatchObject({ found: false, jobState: '' });
  });

  it('an approval bound to another request hash is not honoured: the job is re-checked', async () => {
    const tp = topic();
    let checks = 0;
    kernel.decide = () =>
      ++checks === 1 ? human('apr_2') : { decision: DecisionType.ALLOW, policySnapshot: 'snap-h', ruleId: 'allow' };
    await scheduler(); // approvals polled every 100 ms: no ctl message needed
    await stack.worker(tp);
    const req = await stack.submit(tp, {});
    await stack.waitFor(req.jobId, (s) => s === 'APPROVAL_REQUIRED');
    await insertApproval('apr_2', kernel.calls[0]!, 'APPROVED', { hash: 'f'.repeat(64) });
    const row = await stack.terminal(req.jobId);
    expect(row).toMatchObject({ state: 'SUCCEEDED', rule_id: 'allow' });
    expect(kernel.calls).toHaveLength(2);
    expect((await stack.eventsOf(req.jobId)).map((e) => [e.to_state, e.reason])).toEqual([
      ['PENDING', 'accepted'],
      ['APPROVAL_REQUIRED', 'approval_required'],
      ['PENDING', 'approval_mismatch'],
      ['SCHEDULED', 'policy_allow'],
      ['DISPATCHED', 'dispatched'],
      ['SUCCEEDED', 'worker_succeeded'],
    ]);
  });

  it('an approval given under another snapshot than the active one is not honoured', async () => {
    const tp = topic();
    let checks = 0;
    kernel.decide = () => (++checks === 1 ? human('apr_3') : human('apr_3b'));
    await scheduler(
      {},
      { url: kernel.url, loadActiveSnapshot: async () => ({ snapshotId: 'snap-new', cacheable: false }) },
    );
    await stack.worker(tp);
    const req = await stack.submit(tp, {});
    await stack.waitFor(req.jobId, (s, row) => s === 'APPROVAL_REQUIRED' && row['approval_ref'] === 'apr_3');
    await insertApproval('apr_3', kernel.calls[0]!, 'APPROVED');
    // Re-checked, and parked again on the new approval the kernel asked for.
    const row = await stack.waitFor(req.jobId, (s, r) => s === 'APPROVAL_REQUIRED' && r['approval_ref'] === 'apr_3b');
    expect(row['decision']).toBe('REQUIRE_HUMAN');
    expect((await stack.eventsOf(req.jobId)).map((e) => e.reason)).toContain('approval_mismatch');
  });

  it('REJECTED → DENIED + DLQ approval_rejected', async () => {
    const tp = topic();
    kernel.decide = () => human('apr_4');
    await scheduler({ timings: { approvalPollMs: 60_000 } });
    const w = await stack.worker(tp);
    const req = await stack.submit(tp, {});
    await stack.waitFor(req.jobId, (s) => s === 'APPROVAL_REQUIRED');
    await insertApproval('apr_4', kernel.calls[0]!, 'REJECTED');
    expect(await decided('apr_4', req.jobId)).toMatchObject({ found: true, jobState: 'DENIED' });
    const row = await stack.terminal(req.jobId);
    expect(row).toMatchObject({
      state: 'DENIED',
      error_code: '300',
      error_message: 'approval apr_4 rejected by alice: checked the diff',
    });
    expect(await stack.dlqOf(req.jobId)).toMatchObject({ reason: 'approval_rejected' });
    expect(w.received).toEqual([]);
  });

  it('an approval that expires undecided → TIMEOUT + DLQ approval_expired, and the row is marked EXPIRED', async () => {
    const tp = topic();
    kernel.decide = () => human('apr_5');
    await scheduler();
    const req = await stack.submit(tp, {});
    await stack.waitFor(req.jobId, (s) => s === 'APPROVAL_REQUIRED');
    await insertApproval('apr_5', kernel.calls[0]!, 'PENDING', { expiresInMs: 300 });
    const row = await stack.terminal(req.jobId);
    expect(row['state']).toBe('TIMEOUT');
    expect(row['error_message']).toMatch(/^approval apr_5 expired at .* without a decision$/);
    expect(await stack.dlqOf(req.jobId)).toMatchObject({ reason: 'approval_expired', final_state: 'TIMEOUT' });
    const approval = await stack.db
      .selectFrom('policy_approvals')
      .select('state')
      .where('approval_id', '=', 'apr_5')
      .executeTakeFirstOrThrow();
    expect(approval.state).toBe('EXPIRED');
  });
});

describe('policy gate: ALLOW_WITH_CONSTRAINTS', () => {
  const constrained = (budgets: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    ({
      decision: DecisionType.ALLOW_WITH_CONSTRAINTS,
      reason: 'allowed within limits',
      policySnapshot: 'snap-c',
      ruleId: 'limited',
      constraints: { budgets, ...extra },
    }) as never;

  it('caps the retry budget with max_retries', async () => {
    const tp = topic();
    kernel.decide = () => constrained({ maxRetries: 1 });
    await scheduler({ routing: { defaults: { maxRetries: 5 } } });
    const w = await stack.worker(tp);
    const req = await stack.submit(tp, { fail: 'retryable' });
    const row = await stack.terminal(req.jobId);
    expect(row).toMatchObject({ state: 'FAILED', max_retries: 1, attempt: 2 });
    expect(w.received.map((r) => r.attempt)).toEqual(['1', '2']);
    expect(await stack.dlqOf(req.jobId)).toMatchObject({ reason: 'max_retries_exceeded' });
  });

  it('turns max_runtime_ms into a deadline', async () => {
    const tp = topic();
    kernel.decide = () => constrained({ maxRuntimeMs: 300n });
    await scheduler();
    await stack.worker(tp);
    const req = await stack.submit(tp, { hang: true });
    expect(await stack.terminal(req.jobId)).toMatchObject({ state: 'TIMEOUT' });
    expect(await stack.dlqOf(req.jobId)).toMatchObject({ reason: 'deadline_exceeded' });
  });

  it('passes the constraints, snapshot and rule to the worker in env', async () => {
    const tp = topic();
    kernel.decide = () =>
      constrained(
        { maxRuntimeMs: 60_000n, maxArtifactBytes: 1024n },
        {
          sandbox: { isolated: true, networkAllowlist: ['api.example.com'] },
          toolchain: { allowedTools: ['git'] },
          redactionLevel: 'strict',
        },
      );
    await scheduler();
    const w = await stack.worker(tp);
    const req = await stack.submit(tp, {});
    await stack.terminal(req.jobId);
    const env = w.requests[0]!.env;
    expect(env['CAPSTAN_POLICY_SNAPSHOT']).toBe('snap-c');
    expect(env['CAPSTAN_POLICY_RULE']).toBe('limited');
    expect(JSON.parse(env['CAPSTAN_POLICY_CONSTRAINTS']!)).toEqual({
      budgets: { maxRuntimeMs: '60000', maxArtifactBytes: '1024' },
      sandbox: { isolated: true, networkAllowlist: ['api.example.com'] },
      toolchain: { allowedTools: ['git'] },
      redactionLevel: 'strict',
    });
    expect(env['CAPSTAN_ATTEMPT']).toBe('1');
  });

  it('max_concurrent_jobs=1 holds a tenant’s second job until the first finishes; other tenants run', async () => {
    const tp = topic();
    kernel.decide = (r) =>
      r.tenant === 'acme'
        ? constrained({ maxConcurrentJobs: 1 })
        : { decision: DecisionType.ALLOW, policySnapshot: 'snap-c', ruleId: 'allow' };
    await scheduler();
    await stack.worker(tp, { maxParallel: 8 });
    const first = await stack.submit(tp, { sleepMs: 600, progress: true }, { tenantId: 'acme' });
    await stack.waitFor(first.jobId, (s) => s === 'RUNNING');
    const second = await stack.submit(tp, { sleepMs: 50 }, { tenantId: 'acme' });
    const other = await stack.submit(tp, { sleepMs: 50 }, { tenantId: 'globex' });
    await stack.waitFor(second.jobId, (s, row) => s === 'SCHEDULED' && row['wait_reason'] === 'tenant_concurrency');
    expect((await stack.terminal(other.jobId))['state']).toBe('SUCCEEDED');
    expect((await stack.waitFor(first.jobId, () => true))['state']).toBe('RUNNING');
    const a = await stack.terminal(first.jobId);
    const b = await stack.terminal(second.jobId);
    expect([a['state'], b['state']]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(new Date(b['dispatched_at'] as string).getTime()).toBeGreaterThanOrEqual(
      new Date(a['finished_at'] as string).getTime(),
    );
    // Released by the first one finishing, not by the 1 s poll.
    expect(
      new Date(b['dispatched_at'] as string).getTime() - new Date(a['finished_at'] as string).getTime(),
    ).toBeLessThan(500);
  });
});
