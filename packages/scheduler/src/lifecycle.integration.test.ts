import { JobStatus } from '@capstan/gen/cordum/agent/v1/job_pb';
import { uniqueName } from '@capstan/testkit';
import { describe, expect, it } from 'vitest';
import { useStack } from './test-support/stack.js';

const stack = useStack();

const topic = () => `job.${uniqueName('t')}`;

describe('scheduler ↔ a raw CAP worker (wire contract only)', () => {
  it('carries a job PENDING → SCHEDULED → DISPATCHED → RUNNING → SUCCEEDED, result behind res:<job_id>', async () => {
    await stack().scheduler();
    const tp = topic();
    const w = await stack().worker(tp);
    const req = await stack().submit(tp, { echo: { hello: 'world' }, progress: true, sleepMs: 50 });
    const row = await stack().terminal(req.jobId);
    expect(row['state']).toBe('SUCCEEDED');
    expect(row['result_ptr']).toBe(`redis://res:${req.jobId}`);
    expect(row['worker_id']).toBe(w.workerId);
    expect(row['attempt']).toBe(1);
    expect(row['decision']).toBe('ALLOW');
    expect(row['policy_snapshot']).toBe('allow-all');
    expect(JSON.parse((await stack().redis.get(`res:${req.jobId}`))!)).toEqual({
      echo: { hello: 'world' },
      worker: w.workerId,
    });
    const events = await stack().eventsOf(req.jobId);
    expect(events.map((e) => e.to_state)).toEqual(['PENDING', 'SCHEDULED', 'DISPATCHED', 'RUNNING', 'SUCCEEDED']);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(w.received).toEqual([{ jobId: req.jobId, attempt: '1' }]);
  });

  it('publishes every transition and progress update as job events, trace id preserved', async () => {
    await stack().scheduler();
    const tp = topic();
    await stack().worker(tp);
    const jobId = uniqueName('job');
    const ev = stack().events(jobId);
    await stack().client.nc.flush();
    await stack().submit(tp, { progress: true, sleepMs: 30 }, { jobId });
    await stack().terminal(jobId);
    await new Promise((r) => setTimeout(r, 100));
    expect(ev.states()).toEqual(['PENDING', 'SCHEDULED', 'DISPATCHED', 'RUNNING', 'SUCCEEDED']);
    const progress = ev.list.find((e) => e.kind === 2);
    expect(progress?.job?.progressPct).toBe(50);
    expect(progress?.job?.progressMessage).toBe('half way');
    const traces = new Set(ev.list.map((e) => e.job?.traceId));
    expect(traces.size).toBe(1);
    ev.stop();
  });

  it('retries FAILED_RETRYABLE with backoff, then succeeds', async () => {
    await stack().scheduler();
    const tp = topic();
    const w = await stack().worker(tp);
    const req = await stack().submit(tp, { fail: 'retryable', failAttempts: [1, 2] });
    const row = await stack().terminal(req.jobId);
    expect(row['state']).toBe('SUCCEEDED');
    expect(row['attempt']).toBe(3);
    expect(w.received.map((r) => r.attempt)).toEqual(['1', '2', '3']);
    const states = (await stack().eventsOf(req.jobId)).map((e) => e.to_state);
    expect(states).toEqual([
      'PENDING',
      'SCHEDULED',
      'DISPATCHED',
      'RETRYING',
      'DISPATCHED',
      'RETRYING',
      'DISPATCHED',
      'SUCCEEDED',
    ]);
  });

  it('regression: a CAP worker that reported progress, then failed retryably, gets its own retry accepted', async () => {
    // The worker echoes no lease. Its progress made it the job's holder; its retryable failure used to fence it as
    // if it had lost the lease, so when the queue group handed it the retry its progress and result were refused.
    await stack().scheduler();
    const tp = topic();
    const w = await stack().worker(tp);
    const req = await stack().submit(tp, { progress: true, fail: 'retryable', failAttempts: [1] });
    const row = await stack().terminal(req.jobId);
    expect(row['state']).toBe('SUCCEEDED');
    expect(row['attempt']).toBe(2);
    expect(row['worker_id']).toBe(w.workerId);
    expect(w.received.map((r) => r.attempt)).toEqual(['1', '2']);
  });

  it('gives up after max_retries: FAILED + DLQ max_retries_exceeded', async () => {
    await stack().scheduler({
      routing: { defaults: { maxRetries: 2, dispatchTimeoutMs: 30_000, runningTimeoutMs: 60_000 } },
    });
    const tp = topic();
    const w = await stack().worker(tp);
    const req = await stack().submit(tp, { fail: 'retryable' });
    const row = await stack().terminal(req.jobId);
    expect(row['state']).toBe('FAILED');
    expect(w.received).toHaveLength(3);
    const dlq = await stack().dlqOf(req.jobId);
    expect(dlq).toMatchObject({ reason: 'max_retries_exceeded', final_state: 'FAILED', attempt: 3 });
  });

  it('FAILED_FATAL ends FAILED at once with a DLQ record', async () => {
    await stack().scheduler();
    const tp = topic();
    const w = await stack().worker(tp);
    const req = await stack().submit(tp, { fail: 'fatal' });
    const row = await stack().terminal(req.jobId);
    expect(row['state']).toBe('FAILED');
    expect(w.received).toHaveLength(1);
    expect(await stack().dlqOf(req.jobId)).toMatchObject({ reason: 'fatal', error_code: '1001' });
  });

  it('keeps one job per idempotency key and tenant', async () => {
    await stack().scheduler();
    const tp = topic();
    const w = await stack().worker(tp);
    const meta = { idempotencyKey: uniqueName('idem'), tenantId: 'acme' };
    const first = await stack().submit(tp, { sleepMs: 20 }, { meta: meta as never });
    const second = await stack().submit(tp, { sleepMs: 20 }, { meta: meta as never });
    const ev = stack().events(second.jobId);
    await stack().terminal(first.jobId);
    await new Promise((r) => setTimeout(r, 300));
    expect(
      await stack().db.selectFrom('jobs').select('job_id').where('idempotency_key', '=', meta.idempotencyKey).execute(),
    ).toHaveLength(1);
    expect(w.received.map((r) => r.jobId)).toEqual([first.jobId]);
    // Another tenant may use the same key.
    const other = await stack().submit(tp, {}, { meta: { ...meta, tenantId: 'globex' } as never });
    expect((await stack().terminal(other.jobId))['state']).toBe('SUCCEEDED');
    ev.stop();
  });

  it('waits for a worker, then dispatches when one appears', async () => {
    await stack().scheduler();
    const tp = topic();
    const req = await stack().submit(tp, { echo: 1 });
    await stack().waitFor(req.jobId, (s, row) => s === 'SCHEDULED' && row['wait_reason'] === 'no_workers');
    await stack().worker(tp);
    expect((await stack().terminal(req.jobId))['state']).toBe('SUCCEEDED');
  });

  it('frees the slot reserved on the routed worker when another member of the queue group ran the job', async () => {
    const s = await stack().scheduler();
    const tp = topic();
    // CAP workers of one topic share its queue group: a job routed to one may be taken by the other. Heartbeats are
    // slow, so only the scheduler's own reservations say how busy each worker is while the jobs run.
    const a = await stack().worker(tp, { heartbeatMs: 60_000, maxParallel: 4 });
    const b = await stack().worker(tp, { heartbeatMs: 60_000, maxParallel: 4 });
    const live = () => s.workers.live(Date.now()).filter((w) => w.workerId === a.workerId || w.workerId === b.workerId);
    await expect.poll(() => live().length).toBe(2);
    for (let round = 0; round < 4; round++) {
      const reqs = await Promise.all(Array.from({ length: 6 }, () => stack().submit(tp, { sleepMs: 20 })));
      for (const r of reqs) expect((await stack().terminal(r.jobId))['state']).toBe('SUCCEEDED');
    }
    expect(a.received.length + b.received.length).toBe(24);
    expect(a.received.length).toBeGreaterThan(0);
    expect(b.received.length).toBeGreaterThan(0);
    // Every slot came back, whichever worker ran the job (a leak would leave a worker looking busy until its next
    // heartbeat, and past 90 % of its slots it would get no jobs at all).
    await expect.poll(() => live().map((w) => w.reserved + w.activeJobs)).toEqual([0, 0]);
  });

  it('dead-letters with no_workers after the wait bound', async () => {
    await stack().scheduler({ timings: { noWorkerWaitMs: 400 } });
    const req = await stack().submit(topic(), {});
    const row = await stack().terminal(req.jobId);
    expect(row['state']).toBe('FAILED');
    expect(row['error_code']).toBe('206');
    expect(await stack().dlqOf(req.jobId)).toMatchObject({ reason: 'no_workers' });
  });

  it('ends a job TIMEOUT at its budget deadline', async () => {
    await stack().scheduler();
    const tp = topic();
    await stack().worker(tp);
    const req = await stack().submit(tp, { hang: true }, { budget: { deadlineMs: 300n } as never });
    const row = await stack().terminal(req.jobId);
    expect(row['state']).toBe('TIMEOUT');
    expect(row['error_code']).toBe('200');
    expect(await stack().dlqOf(req.jobId)).toMatchObject({ reason: 'deadline_exceeded' });
  });

  it('ends a job TIMEOUT after the topic running timeout', async () => {
    const tp = topic();
    await stack().scheduler({ routing: { topics: { [tp]: { runningTimeoutMs: 300 } } } });
    await stack().worker(tp);
    const req = await stack().submit(tp, { hang: true });
    expect((await stack().terminal(req.jobId))['state']).toBe('TIMEOUT');
    expect(await stack().dlqOf(req.jobId)).toMatchObject({ reason: 'running_timeout' });
  });

  it('regression: a job a worker reported RUNNING as a JobResult escaped the running timeout', async () => {
    const tp = topic();
    await stack().scheduler({ routing: { topics: { [tp]: { runningTimeoutMs: 800 } } } });
    const w = await stack().worker(tp);
    const req = await stack().submit(tp, { hang: true });
    await stack().waitFor(req.jobId, (s) => s === 'DISPATCHED');
    w.sendResult(req.jobId, JobStatus.RUNNING);
    await stack().waitFor(req.jobId, (s, row) => s === 'RUNNING' && row['worker_id'] === w.workerId);
    const row = await stack().terminal(req.jobId, 5000);
    expect(row['state']).toBe('TIMEOUT');
    expect(await stack().dlqOf(req.jobId)).toMatchObject({ reason: 'running_timeout' });
  });

  it('refuses a stale result from a fenced (zombie) worker after its lease expired', async () => {
    const tp = topic();
    // The paused worker stays in the queue group; a short dispatch timeout re-dispatches what lands on it.
    await stack().scheduler({ routing: { topics: { [tp]: { dispatchTimeoutMs: 800, maxRetries: 10 } } } });
    const zombie = await stack().worker(tp, { heartbeatMs: 200 });
    await new Promise((r) => setTimeout(r, 500)); // let the scheduler learn its heartbeat interval
    const req = await stack().submit(tp, { sleepMs: 1500, progress: true });
    await stack().waitFor(req.jobId, (s, row) => s === 'RUNNING' && row['worker_id'] === zombie.workerId);
    zombie.pause(); // SIGSTOP: no beats, no answers
    const healthy = await stack().worker(tp);
    await stack().waitFor(req.jobId, (s) => s === 'RETRYING' || s === 'DISPATCHED' || s === 'SUCCEEDED');
    const row = await stack().terminal(req.jobId);
    expect(row['state']).toBe('SUCCEEDED');
    expect(row['worker_id']).toBe(healthy.workerId);
    expect(row['attempt']).toBeGreaterThanOrEqual(2);
    // SIGCONT: the zombie's late result must not overwrite anything (job is terminal: ignored).
    zombie.sendResult(req.jobId, JobStatus.FAILED_FATAL);
    await new Promise((r) => setTimeout(r, 200));
    expect((await stack().terminal(req.jobId))['state']).toBe('SUCCEEDED');
    const reasons = (await stack().eventsOf(req.jobId)).map((e) => e.reason);
    expect(reasons).toContain('lease_expired');
  });
});
