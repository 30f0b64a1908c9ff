import { uniqueName } from '@capstan/testkit';
import { describe, expect, it } from 'vitest';
import type { Scheduler } from './create-scheduler.js';
import { SchedulerMetricNames } from './scheduler-metrics.js';
import { useStack } from './test-support/stack.js';

// Workers here are like the official Python CAP SDK's: no JobProgress, no RUNNING; only heartbeats with
// active_jobs tell the scheduler that a queue-group dispatch is being worked on.

const stack = useStack();

const topic = () => `job.${uniqueName('t')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (v: unknown) => new Date(v as string).getTime();

async function renewals(s: Scheduler): Promise<number> {
  const metric = s.metrics.getSingleMetric(SchedulerMetricNames.leaseRenewals);
  return (await metric!.get()).values.reduce((sum, v) => sum + v.value, 0);
}

/** Waits until the job's dispatch lease was renewed at least once (the row was re-written after the dispatch). */
const renewed = (jobId: string, timeoutMs = 10_000) =>
  stack().waitFor(jobId, (s, row) => s === 'DISPATCHED' && ms(row['updated_at']) > ms(row['dispatched_at']), timeoutMs);

describe('dispatch lease of an unclaimed queue-group job (workers without progress)', () => {
  it('regression: a 2.5 s job with a 1 s dispatch timeout ran three times; now it runs once', async () => {
    const tp = topic();
    const sched = await stack().scheduler({ routing: { topics: { [tp]: { dispatchTimeoutMs: 1000 } } } });
    const w = await stack().worker(tp, { heartbeatMs: 200 });
    const req = await stack().submit(tp, { sleepMs: 2500, echo: 'once' });
    const row = await stack().terminal(req.jobId);
    expect(row['state']).toBe('SUCCEEDED');
    expect(row['attempt']).toBe(1);
    expect(row['worker_id']).toBe(w.workerId);
    expect(w.received).toEqual([{ jobId: req.jobId, attempt: '1' }]);
    expect((await stack().eventsOf(req.jobId)).map((e) => e.to_state)).toEqual([
      'PENDING',
      'SCHEDULED',
      'DISPATCHED',
      'SUCCEEDED',
    ]);
    expect(await renewals(sched)).toBeGreaterThanOrEqual(2);
  });

  it('a busy worker that stops heartbeating still loses the lease: the job runs again on another worker at once', async () => {
    const tp = topic();
    // A long dispatch timeout: the re-dispatch must come from the worker's expiry, not from the next lease check.
    await stack().scheduler({ routing: { topics: { [tp]: { dispatchTimeoutMs: 5000 } } } });
    const crashing = await stack().worker(tp, { heartbeatMs: 100 });
    const req = await stack().submit(tp, { sleepMs: 60_000 });
    await renewed(req.jobId);
    expect(crashing.received.map((r) => r.jobId)).toEqual([req.jobId]);
    const survivor = await stack().worker(tp, { heartbeatMs: 100 });
    await sleep(300); // the survivor is known (and idle) before the crash
    await stack().redis.set(`ctx:${req.jobId}`, JSON.stringify({ sleepMs: 10, echo: 'rerun' })); // the rerun is quick
    const crashedAt = Date.now();
    await crashing.stop(); // gone without a word: no result, no more heartbeats
    const row = await stack().terminal(req.jobId, 15_000);
    expect(row['state']).toBe('SUCCEEDED');
    expect(row['worker_id']).toBe(survivor.workerId);
    expect(row['attempt']).toBe(2);
    const events = await stack().eventsOf(req.jobId);
    const retry = events.find((e) => e.to_state === 'RETRYING');
    expect(retry?.reason).toBe('lease_expired');
    // Expiry after 3 missed beats (3 s floor) plus a sweep; the next lease check would only come ~5 s after renewal.
    expect(ms(retry?.at) - crashedAt).toBeLessThan(3000 + 1000);
  });

  it('a renewed lease is still bounded by the running timeout and the deadline', async () => {
    const tp = topic();
    const sched = await stack().scheduler({
      routing: { topics: { [tp]: { dispatchTimeoutMs: 300, runningTimeoutMs: 1500 } } },
    });
    const w = await stack().worker(tp, { heartbeatMs: 100 });
    const long = await stack().submit(tp, { sleepMs: 2500 });
    const withDeadline = await stack().submit(tp, { sleepMs: 2500 }, { budget: { deadlineMs: 1000n } as never });
    const timedOut = await stack().terminal(long.jobId);
    expect(timedOut['state']).toBe('TIMEOUT');
    expect(await stack().dlqOf(long.jobId)).toMatchObject({ reason: 'running_timeout' });
    const deadline = await stack().terminal(withDeadline.jobId);
    expect(deadline['state']).toBe('TIMEOUT');
    expect(await stack().dlqOf(withDeadline.jobId)).toMatchObject({ reason: 'deadline_exceeded' });
    expect(await renewals(sched)).toBeGreaterThanOrEqual(2);
    // Renewed, never dispatched twice; the worker's late results are ignored.
    expect(w.received.map((r) => r.jobId).sort()).toEqual([long.jobId, withDeadline.jobId].sort());
    await sleep(1300);
    expect((await stack().terminal(long.jobId))['state']).toBe('TIMEOUT');
    expect((await stack().terminal(withDeadline.jobId))['state']).toBe('TIMEOUT');
  });

  it('a replica that starts after the dispatch does not take a pool it has not heard yet for an idle one', async () => {
    const tp = topic();
    const routing = { topics: { [tp]: { dispatchTimeoutMs: 1000 } } };
    const first = await stack().scheduler({ routing });
    const w = await stack().worker(tp, { heartbeatMs: 200 });
    const req = await stack().submit(tp, { sleepMs: 4500 });
    await renewed(req.jobId);
    // The replica goes away and the worker's beats are held back while the next replica starts: the lease expires
    // before the new replica has heard anyone.
    w.stopHeartbeats();
    await first.stop();
    await stack().scheduler({ routing, timings: { workerDiscoveryMs: 2500 } });
    await sleep(1500);
    w.resumeHeartbeats();
    const row = await stack().terminal(req.jobId);
    expect(row['state']).toBe('SUCCEEDED');
    expect(row['attempt']).toBe(1);
    expect(w.received).toHaveLength(1);
    expect((await stack().eventsOf(req.jobId)).map((e) => e.to_state)).not.toContain('RETRYING');
  });
});
