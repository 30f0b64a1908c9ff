import { fork } from 'node:child_process';
import { createPointerStore, type PointerStore } from '@capstan/pointers';
import { testServices, uniqueName } from '@capstan/testkit';
import { type Client, createClient, createWorker, JobFailure, type Worker } from '@capstan/worker';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Stack, startStack } from './test-support/stack.js';

let stack: Stack;
let pointers: PointerStore;
let client: Client;
const workers: Worker[] = [];
beforeEach(async () => {
  stack = await startStack();
  pointers = createPointerStore({ redis: testServices().redisUrl });
  client = createClient({ bus: stack.client, pointers });
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.shutdown({ timeoutMs: 1000 })));
  await stack.stop();
  await pointers.close();
});

const topic = () => `job.${uniqueName('t')}`;

async function sdkWorker(
  tp: string,
  handler: Parameters<typeof createWorker>[0]['handler'],
  o: { directDispatch?: boolean; workerId?: string } = {},
) {
  const w = await createWorker({
    servers: stack.nats.url,
    pointers,
    topics: [tp],
    heartbeatIntervalMs: 500,
    handler,
    ...o,
  });
  workers.push(w);
  return w;
}

describe('scheduler ↔ the Capstan TypeScript worker SDK', () => {
  it('direct-dispatches to SDK workers, echoes the lease, returns the output through the client', async () => {
    await stack.scheduler();
    const tp = topic();
    const w = await sdkWorker(tp, async (input: { n: number }, ctx) => {
      ctx.progress(50, 'half');
      return { doubled: input.n * 2, attempt: ctx.attempt, epoch: ctx.epoch };
    });
    await new Promise((r) => setTimeout(r, 300)); // handshake + first heartbeat
    const res = await client.submitAndWait({ topic: tp, input: { n: 21 }, tenant: 'acme' }, { timeoutMs: 10_000 });
    expect(res.state).toBe('SUCCEEDED');
    expect(res.output).toEqual({ doubled: 42, attempt: 1, epoch: 1 });
    const row = await stack.terminal(res.jobId);
    expect(row['direct_dispatch']).toBe(true);
    expect(row['worker_id']).toBe(w.id);
    expect(row['tenant']).toBe('acme');
    expect((await stack.eventsOf(res.jobId)).map((e) => e.to_state)).toEqual([
      'PENDING',
      'SCHEDULED',
      'DISPATCHED',
      'RUNNING',
      'SUCCEEDED',
    ]);
  });

  it('maps JobFailure.retryable to a retry and JobFailure.fatal to FAILED + DLQ', async () => {
    await stack.scheduler();
    const tp = topic();
    await sdkWorker(tp, async (input: { mode: string }, ctx) => {
      if (input.mode === 'flaky' && ctx.attempt < 2) throw JobFailure.retryable('try again');
      if (input.mode === 'fatal') throw JobFailure.fatal('bad input', { code: 'INVALID_INPUT' });
      return 'ok';
    });
    await new Promise((r) => setTimeout(r, 300));
    const flaky = await client.submitAndWait({ topic: tp, input: { mode: 'flaky' } }, { timeoutMs: 10_000 });
    expect(flaky).toMatchObject({ state: 'SUCCEEDED', output: 'ok' });
    expect(flaky.snapshot.attempt).toBe(2);
    const fatal = await client.submitAndWait({ topic: tp, input: { mode: 'fatal' } }, { timeoutMs: 10_000 });
    expect(fatal.state).toBe('FAILED');
    expect(await stack.dlqOf(fatal.jobId)).toMatchObject({ reason: 'fatal', error_code: '203' });
  });

  it('cancels a running job on an SDK worker: the handler is aborted and the job ends CANCELLED', async () => {
    await stack.scheduler();
    const tp = topic();
    let aborted = false;
    await sdkWorker(tp, async (_input, ctx) => {
      await new Promise<void>((resolve) =>
        ctx.signal.addEventListener('abort', () => {
          aborted = true;
          resolve();
        }),
      );
      throw ctx.signal.reason;
    });
    await new Promise((r) => setTimeout(r, 300));
    const { jobId } = await client.submit({ topic: tp, input: {} });
    await stack.waitFor(jobId, (s) => s === 'RUNNING');
    await client.cancel(jobId, 'user pressed stop');
    const row = await stack.terminal(jobId);
    expect(row['state']).toBe('CANCELLED');
    expect(aborted).toBe(true);
    expect((await stack.eventsOf(jobId)).at(-1)?.reason).toBe('worker_cancelled');
  });

  it('serves one pool with an SDK worker and a raw CAP worker side by side', async () => {
    await stack.scheduler();
    const tp = topic();
    const sdk = await sdkWorker(tp, async () => 'sdk', { directDispatch: false });
    const raw = await stack.worker(tp);
    await new Promise((r) => setTimeout(r, 300));
    const results = await Promise.all(
      Array.from({ length: 40 }, () => client.submitAndWait({ topic: tp, input: { echo: 1 } }, { timeoutMs: 15_000 })),
    );
    expect(results.every((r) => r.state === 'SUCCEEDED')).toBe(true);
    const byWorker = new Set(results.map((r) => r.snapshot.workerId));
    expect(byWorker).toEqual(new Set([sdk.id, raw.workerId]));
  });

  it('a worker killed with SIGKILL mid-job: the job completes on another worker', async () => {
    await stack.scheduler();
    const tp = topic();
    const env = { ...process.env, NATS_URL: stack.nats.url, REDIS_URL: testServices().redisUrl, TOPIC: tp };
    const spawnWorker = async (id: string) => {
      const cp = fork(new URL('./test-support/sdk-worker-process.ts', import.meta.url), {
        env: { ...env, WORKER_ID: id },
        execArgv: ['--conditions=@capstan/source', '--import', 'tsx'],
      });
      await new Promise((r) => cp.once('message', r));
      return cp;
    };
    const victim = await spawnWorker(uniqueName('victim'));
    await new Promise((r) => setTimeout(r, 1200)); // two heartbeats: the scheduler knows its interval
    const { jobId } = await client.submit({ topic: tp, input: { sleepMs: 60_000 } });
    await stack.waitFor(jobId, (s) => s === 'RUNNING');
    // The survivor is up and known before the kill, so the timing below measures the scheduler, not process start.
    const survivor = await spawnWorker(uniqueName('survivor'));
    await new Promise((r) => setTimeout(r, 1200));
    await stack.redis.set(`ctx:${jobId}`, JSON.stringify({ sleepMs: 10 })); // the rerun is quick
    const killedAt = Date.now();
    victim.kill('SIGKILL');
    try {
      const res = await client.waitForResult<{ by: string; attempt: number }>(jobId, { timeoutMs: 20_000 });
      expect(
        res.state,
        JSON.stringify({
          err: res.snapshot.errorMessage,
          code: res.snapshot.errorCode,
          events: (await stack.eventsOf(jobId)).map((e) => [e.to_state, e.reason, e.worker_id]),
        }),
      ).toBe('SUCCEEDED');
      expect(res.output?.attempt).toBe(2);
      // Heartbeats every 500 ms → expiry after 3 s (the floor), then immediate re-dispatch.
      expect(Date.now() - killedAt).toBeLessThan(3000 + 2000);
      expect((await stack.eventsOf(jobId)).map((e) => e.reason)).toContain('lease_expired');
    } finally {
      survivor.kill('SIGTERM');
    }
  });
});
