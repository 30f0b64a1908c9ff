import { create, toBinary } from '@bufbuild/protobuf';
import { PolicyChangedSchema } from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import {
  DecisionType,
  type PolicyCheckRequest,
  PolicyCheckRequestSchema,
} from '@capstan/gen/cordum/agent/v1/safety_pb';
import { CapstanSubjects } from '@capstan/protocol';
import { type NatsHandle, startNats } from '@capstan/testkit';
import { Code, ConnectError } from '@connectrpc/connect';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSafetyKernelPolicy, type SafetyKernelPolicy } from './create-safety-kernel-policy.js';
import {
  InvalidSafetyClientOptionsError,
  SafetyKernelAbortedError,
  SafetyKernelCircuitOpenError,
  SafetyKernelClosedError,
  SafetyKernelRequestError,
  SafetyKernelTimeoutError,
  SafetyKernelUnavailableError,
} from './errors.js';
import type { SafetyKernelPolicyOptions } from './safety-kernel-policy-options.js';
import { startTestSafetyKernel, type TestSafetyKernel } from './testing/test-safety-kernel.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function kernel(opts: Parameters<typeof startTestSafetyKernel>[0] = {}): Promise<TestSafetyKernel> {
  const k = await startTestSafetyKernel(opts);
  cleanups.push(() => k.stop());
  return k;
}

function policy(opts: SafetyKernelPolicyOptions): SafetyKernelPolicy {
  const p = createSafetyKernelPolicy(opts);
  cleanups.push(() => p.close());
  return p;
}

const request = (jobId = 'job-1', topic = 'job.echo'): PolicyCheckRequest =>
  create(PolicyCheckRequestSchema, { jobId, topic, tenant: 'acme', labels: { team: 'a' } });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('createSafetyKernelPolicy over a real Connect server', () => {
  it('asks the kernel over gRPC (HTTP/2) and returns its decision', async () => {
    const k = await kernel({
      decide: (req) => ({
        decision: DecisionType.DENY,
        reason: `no ${req.topic} for ${req.tenant}`,
        policySnapshot: 'snap-1',
        ruleId: 'deny-echo',
      }),
    });
    const p = policy({ url: k.url });
    const res = await p.check(request());
    expect(res).toMatchObject({
      decision: DecisionType.DENY,
      reason: 'no job.echo for acme',
      policySnapshot: 'snap-1',
      ruleId: 'deny-echo',
    });
    expect(k.calls.map((c) => [c.jobId, c.labels])).toEqual([['job-1', { team: 'a' }]]);
    expect(p.circuitState()).toBe('closed');
  });

  it('speaks the Connect protocol over HTTP/1.1 and over HTTP/2', async () => {
    const h1 = await kernel({ http: 'http1' });
    const viaH1 = policy({ url: h1.url, protocol: 'connect' });
    expect((await viaH1.check(request())).ruleId).toBe('test-allow');
    const h2 = await kernel();
    const viaH2 = policy({ url: h2.url, protocol: 'connect', httpVersion: '2' });
    expect((await viaH2.check(request())).ruleId).toBe('test-allow');
    expect(h1.calls).toHaveLength(1);
    expect(h2.calls).toHaveLength(1);
  });

  it('rejects with SafetyKernelTimeoutError when the kernel is slower than timeoutMs', async () => {
    const k = await kernel({
      decide: async () => {
        await sleep(1000);
        return { decision: DecisionType.ALLOW, policySnapshot: 's', ruleId: 'r' };
      },
    });
    const p = policy({ url: k.url, timeoutMs: 100 });
    const started = Date.now();
    const err = await p.check(request()).catch((e) => e);
    expect(err).toBeInstanceOf(SafetyKernelTimeoutError);
    expect(err).toMatchObject({ code: 'deadline_exceeded', timeoutMs: 100 });
    expect(err.message).toBe('safety kernel did not answer within 100 ms');
    expect(Date.now() - started).toBeLessThan(800);
  });

  it('opens the breaker after repeated failures, fails fast while open, then half-opens and closes', async () => {
    const k = await kernel();
    const registry = new Registry();
    const p = policy({ url: k.url, breaker: { failureThreshold: 2, halfOpenAfterMs: 400 }, registry });
    expect((await p.check(request())).decision).toBe(DecisionType.ALLOW);
    await k.stop();
    for (let i = 0; i < 2; i++) await expect(p.check(request())).rejects.toBeInstanceOf(SafetyKernelUnavailableError);
    expect(p.circuitState()).toBe('open');
    const before = k.calls.length;
    const started = Date.now();
    const open = await p.check(request()).catch((e) => e);
    expect(open).toBeInstanceOf(SafetyKernelCircuitOpenError);
    expect(open.retryAfterMs).toBeGreaterThan(0);
    expect(open.retryAfterMs).toBeLessThanOrEqual(400);
    expect(Date.now() - started).toBeLessThan(50);
    expect(await registry.getSingleMetricAsString('capstan_policy_circuit_state')).toContain(
      'capstan_policy_circuit_state 1',
    );

    // Half-open with the kernel still down: the trial call fails and the breaker opens again.
    await sleep(450);
    await expect(p.check(request())).rejects.toBeInstanceOf(SafetyKernelUnavailableError);
    expect(p.circuitState()).toBe('open');
    await expect(p.check(request())).rejects.toBeInstanceOf(SafetyKernelCircuitOpenError);

    // Kernel back: after the break, one trial call goes through and closes the breaker.
    await k.start();
    await sleep(450);
    expect((await p.check(request())).decision).toBe(DecisionType.ALLOW);
    expect(p.circuitState()).toBe('closed');
    expect(k.calls.length).toBe(before + 1);
    const errors = await registry.getSingleMetricAsString('capstan_policy_check_errors_total');
    expect(errors).toContain('kind="unavailable"} 3');
    expect(errors).toContain('kind="circuit_open"} 2');
  });

  it('counts timeouts against the breaker', async () => {
    const k = await kernel({
      decide: async () => {
        await sleep(300);
        return { decision: DecisionType.ALLOW, policySnapshot: 's', ruleId: 'r' };
      },
    });
    const p = policy({ url: k.url, timeoutMs: 50, breaker: { failureThreshold: 2, halfOpenAfterMs: 10_000 } });
    await expect(p.check(request())).rejects.toBeInstanceOf(SafetyKernelTimeoutError);
    await expect(p.check(request())).rejects.toBeInstanceOf(SafetyKernelTimeoutError);
    await expect(p.check(request())).rejects.toBeInstanceOf(SafetyKernelCircuitOpenError);
  });

  it('reports a refused request as SafetyKernelRequestError without tripping the breaker', async () => {
    const k = await kernel({
      decide: (req) => {
        throw new ConnectError(`topic ${JSON.stringify(req.topic)}: expected a job.* subject`, Code.InvalidArgument);
      },
    });
    const p = policy({ url: k.url, breaker: { failureThreshold: 1 } });
    for (let i = 0; i < 3; i++) {
      const err = await p.check(request('j', 'bad')).catch((e) => e);
      expect(err).toBeInstanceOf(SafetyKernelRequestError);
      expect(err.code).toBe('invalid_argument');
      expect(err.message).toBe(
        'safety kernel refused the request (invalid_argument): topic "bad": expected a job.* subject',
      );
    }
    expect(p.circuitState()).toBe('closed');
  });

  it('rejects with SafetyKernelAbortedError when the caller aborts, and SafetyKernelClosedError after close', async () => {
    const k = await kernel({
      decide: async () => {
        await sleep(500);
        return { decision: DecisionType.ALLOW, policySnapshot: 's', ruleId: 'r' };
      },
    });
    const p = policy({ url: k.url });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await expect(p.check(request(), { signal: ac.signal })).rejects.toBeInstanceOf(SafetyKernelAbortedError);
    await p.close();
    await expect(p.check(request())).rejects.toBeInstanceOf(SafetyKernelClosedError);
  });

  it('names the wrong option and the expected form', () => {
    expect(() => createSafetyKernelPolicy({ url: 'localhost:50051' })).toThrow(InvalidSafetyClientOptionsError);
    expect(() => createSafetyKernelPolicy({ url: 'ftp://x:1' })).toThrow(
      'url "ftp://x:1" has protocol ftp:: expected http:// or https://, e.g. http://127.0.0.1:50051',
    );
    expect(() => createSafetyKernelPolicy({ url: 'http://x:1', timeoutMs: 0 })).toThrow(
      'timeoutMs is 0: expected an integer ≥ 1 (milliseconds)',
    );
    expect(() => createSafetyKernelPolicy({ url: 'http://x:1', protocol: 'soap' as never })).toThrow(
      'protocol "soap" is not supported: expected "grpc" or "connect"',
    );
    expect(() => createSafetyKernelPolicy({ url: 'http://x:1', breaker: { failureThreshold: 1.5 } })).toThrow(
      'breaker.failureThreshold is 1.5: expected an integer ≥ 1',
    );
  });
});

describe('decision cache and the active snapshot', () => {
  let nats: NatsHandle;
  let nc: NatsConnection;
  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  const announce = async (p: SafetyKernelPolicy, snapshotId: string, cacheable: boolean) => {
    nc.publish(
      CapstanSubjects.policyChanged,
      toBinary(PolicyChangedSchema, create(PolicyChangedSchema, { snapshotId, cacheable, source: 'test' })),
    );
    await nc.flush();
    await expect.poll(() => [p.activeSnapshot(), p.cacheable()]).toEqual([snapshotId, cacheable]);
  };

  async function cachingClient(decide: Parameters<typeof startTestSafetyKernel>[0] = {}) {
    const k = await kernel(decide);
    const clientNc = await connect({ servers: nats.url });
    cleanups.push(() => clientNc.close());
    const registry = new Registry();
    const p = policy({ url: k.url, nats: clientNc, registry, cache: { ttlMs: 60_000 } });
    await clientNc.flush();
    return { k, p, registry };
  }

  it('serves a cacheable snapshot’s ALLOW / DENY for equal requests of different jobs from the cache', async () => {
    let snapshot = 's1';
    const { k, p, registry } = await cachingClient({
      decide: (req) => ({
        decision: req.topic === 'job.deny' ? DecisionType.DENY : DecisionType.ALLOW,
        reason: 'r',
        policySnapshot: snapshot,
        ruleId: 'rule',
      }),
    });
    expect(p.activeSnapshot()).toBe('');
    await p.check(request('a'));
    await p.check(request('b'));
    expect(k.calls).toHaveLength(2); // unknown snapshot: nothing cached

    await announce(p, 's1', true);
    await p.check(request('a'));
    const hit = await p.check(request('b'));
    await p.check(request('c', 'job.deny'));
    const denyHit = await p.check(request('d', 'job.deny'));
    expect(k.calls.map((c) => c.jobId)).toEqual(['a', 'b', 'a', 'c']);
    expect(hit.decision).toBe(DecisionType.ALLOW);
    expect(denyHit.decision).toBe(DecisionType.DENY);
    // A different request is a miss.
    await p.check(create(PolicyCheckRequestSchema, { jobId: 'e', topic: 'job.echo', tenant: 'globex' }));
    expect(k.calls).toHaveLength(5);
    const checks = await registry.getSingleMetricAsString('capstan_policy_checks_total');
    expect(checks).toContain('source="cache",decision="allow"} 1');
    expect(checks).toContain('source="cache",decision="deny"} 1');

    // PolicyChanged to s2 drops the s1 entries; answers still from s1 (a lagging kernel) are not cached.
    await announce(p, 's2', true);
    await p.check(request('f'));
    await p.check(request('g'));
    expect(k.calls).toHaveLength(7);
    snapshot = 's2';
    await p.check(request('h'));
    await p.check(request('i'));
    expect(k.calls.map((c) => c.jobId).slice(7)).toEqual(['h']);

    // A snapshot announced as not cacheable (velocity rules, job_id in CEL) is never cached.
    await announce(p, 's2', false);
    await p.check(request('j'));
    await p.check(request('k'));
    expect(k.calls.map((c) => c.jobId).slice(8)).toEqual(['j', 'k']);
  });

  it('never caches REQUIRE_HUMAN or THROTTLE', async () => {
    const { k, p } = await cachingClient({
      decide: (req) => ({
        decision: req.topic === 'job.human' ? DecisionType.REQUIRE_HUMAN : DecisionType.THROTTLE,
        approvalRef: `apr_${req.jobId}`,
        policySnapshot: 's1',
        ruleId: 'rule',
      }),
    });
    await announce(p, 's1', true);
    expect((await p.check(request('a', 'job.human'))).approvalRef).toBe('apr_a');
    expect((await p.check(request('b', 'job.human'))).approvalRef).toBe('apr_b');
    await p.check(request('c', 'job.slow'));
    await p.check(request('d', 'job.slow'));
    expect(k.calls).toHaveLength(4);
  });

  it('expires entries after the TTL', async () => {
    const k = await kernel({ decide: () => ({ decision: DecisionType.ALLOW, policySnapshot: 's1', ruleId: 'r' }) });
    const p = policy({
      url: k.url,
      cache: { ttlMs: 150 },
      loadActiveSnapshot: async () => ({ snapshotId: 's1', cacheable: true }),
    });
    await p.ready();
    expect(p.activeSnapshot()).toBe('s1');
    await p.check(request('a'));
    await p.check(request('b'));
    expect(k.calls).toHaveLength(1);
    await sleep(200);
    await p.check(request('c'));
    expect(k.calls).toHaveLength(2);
  });

  it('asks the store for the active snapshot at start and when the kernel answers from another one', async () => {
    let active = { snapshotId: 's1', cacheable: true };
    let loads = 0;
    let answer = 's1';
    const k = await kernel({ decide: () => ({ decision: DecisionType.ALLOW, policySnapshot: answer, ruleId: 'r' }) });
    const p = policy({
      url: k.url,
      loadActiveSnapshot: async () => {
        loads++;
        return active;
      },
    });
    await p.ready();
    expect([p.activeSnapshot(), loads]).toEqual(['s1', 1]);
    await p.check(request('a'));
    await p.check(request('b'));
    expect(k.calls).toHaveLength(1);
    // The switch was missed (no NATS): the kernel's answer names s2, so the client re-reads the store.
    active = { snapshotId: 's2', cacheable: true };
    answer = 's2';
    await sleep(1100); // store reads are rate-limited to one per second
    await p.check(create(PolicyCheckRequestSchema, { jobId: 'x', topic: 'job.other', tenant: 'acme' }));
    await expect.poll(() => p.activeSnapshot()).toBe('s2');
    expect(loads).toBe(2);
    await p.check(request('c'));
    await p.check(request('d'));
    expect(k.calls.map((c) => c.jobId)).toEqual(['a', 'x', 'c']);
  });

  it('ignores a malformed PolicyChanged', async () => {
    const { p } = await cachingClient();
    await announce(p, 's1', true);
    nc.publish(CapstanSubjects.policyChanged, new Uint8Array([0xff, 0xff, 0xff]));
    nc.publish(CapstanSubjects.policyChanged, toBinary(PolicyChangedSchema, create(PolicyChangedSchema, {})));
    await nc.flush();
    await sleep(50);
    expect([p.activeSnapshot(), p.cacheable()]).toEqual(['s1', true]);
  });
});
