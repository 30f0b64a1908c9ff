/**
 * Worker faults under a steady background load, on one scheduler replica (the deployable) and three SDK worker
 * processes:
 * - fault 1: SIGKILL a worker mid-job → every job it held is re-dispatched to another worker and completes within the
 *   heartbeat timeout + 1 s of the kill, SUCCEEDED exactly once;
 * - fault 2: SIGSTOP a worker past its lease, then SIGCONT → its jobs are re-dispatched; the zombie's late results are
 *   refused as stale (dead letter 202) and the job ends SUCCEEDED by the new holder.
 */
import { describe, expect, it } from 'vitest';
import { maxOrNull, reportFault } from './support/fault-report.js';
import type { FaultStack } from './support/fault-stack.js';
import { sleep, useFaultStack } from './support/fault-test-hooks.js';
import { type ObservedEvent, TERMINAL_STATES } from './support/history.js';
import { readSideEffects } from './support/side-effects.js';
import type { WorkerProcess } from './support/worker-process.js';

/** Workers beat every 500 ms; the scheduler gives up on a worker after 3 missed beats, at least 3 s (docs/scheduler.md). */
const HEARTBEAT_MS = 500;
const HEARTBEAT_TIMEOUT_MS = Math.max(3000, 3 * HEARTBEAT_MS);
const RECOVERY_BOUND_MS = HEARTBEAT_TIMEOUT_MS + 1000;

let workers: WorkerProcess[] = [];
const stack = useFaultStack({ name: 'worker-faults' }, async (s) => {
  [, ...workers] = await Promise.all([
    s.startScheduler('scheduler-a'),
    ...['worker-1', 'worker-2', 'worker-3'].map((id) => s.startWorker(id, { heartbeatMs: HEARTBEAT_MS })),
  ]);
});

const isTerminalOf = (jobId: string) => (e: ObservedEvent) =>
  e.jobId === jobId && e.kind === 'TRANSITION' && TERMINAL_STATES.includes(e.state);

/** Submits a probe job that works `firstMs` on attempt 1 and `retryMs` later, and waits until it runs. */
async function runningProbe(s: FaultStack, firstMs: number, retryMs: number) {
  const probe = await s.submitter.submit({ input: { sleepMs: firstMs, retrySleepMs: retryMs } });
  const running = await s.recorder.waitForEvent(
    'the probe job RUNNING',
    (e) => e.jobId === probe.jobId && e.kind === 'TRANSITION' && e.state === 'RUNNING',
    10_000,
  );
  const victim = workers.find((w) => w.workerId === running.workerId && w.alive());
  if (!victim) throw new Error(`the probe runs on ${running.workerId}, not on one of the live fault workers`);
  return { probe, victim };
}

/** Jobs `workerId` held at `at`: their last transition by then put them DISPATCHED or RUNNING on that worker. */
function heldBy(s: FaultStack, workerId: string, at: number): string[] {
  const last = new Map<string, ObservedEvent>();
  for (const e of s.recorder.history.events) if (e.kind === 'TRANSITION' && e.at <= at) last.set(e.jobId, e);
  return [...last.values()]
    .filter((e) => (e.state === 'DISPATCHED' || e.state === 'RUNNING') && e.workerId === workerId)
    .map((e) => e.jobId);
}

/** How long after `at` each job was dispatched to another worker, and reached a terminal state. */
function recoveryOf(s: FaultStack, jobs: readonly string[], from: string, at: number) {
  const { dispatches, events } = s.recorder.history;
  const delay = (t: number | undefined) => (t === undefined ? Number.POSITIVE_INFINITY : t - at);
  return {
    redispatch: jobs.map((id) => delay(dispatches.find((d) => d.jobId === id && d.at > at && d.workerId !== from)?.at)),
    completion: jobs.map((id) => delay(events.find(isTerminalOf(id))?.at)),
  };
}

describe('worker faults', { timeout: 60_000 }, () => {
  it('fault 1: SIGKILL a worker mid-job → its jobs are re-dispatched and complete within the heartbeat timeout + 1 s, SUCCEEDED once', async ({
    task,
  }) => {
    const s = stack();
    const since = Date.now();
    s.startLoad({ ratePerSec: 40 });
    await sleep(1000);
    // 5 s of work on the first attempt, 50 ms when re-run: surely mid-way when its worker dies.
    const { probe, victim } = await runningProbe(s, 5000, 50);
    await sleep(300);
    const killedAt = Date.now();
    await victim.kill();
    const held = heldBy(s, victim.workerId, killedAt);
    const done = await s.recorder.waitForEvent('the probe job terminal', isTerminalOf(probe.jobId), 15_000);
    await sleep(1000);
    const verdict = await s.check(20_000, { since });
    const { redispatch, completion } = recoveryOf(s, held, victim.workerId, killedAt);
    const probeWork = (await readSideEffects(s.runDir)).filter((e) => e.jobId === probe.jobId && e.phase === 'effect');

    reportFault(task, {
      fault: '1 worker SIGKILL mid-job',
      injected: [`SIGKILL ${victim.workerId} 300 ms into a 5 s job; it held ${held.length} jobs; load 40 jobs/s`],
      verified: [
        `probe ${done.state} ${done.at - killedAt} ms after the kill (bound: heartbeat timeout ${HEARTBEAT_TIMEOUT_MS} ms + 1 s)`,
        `held jobs re-dispatched within ${maxOrNull(redispatch)} ms, finished within ${maxOrNull(completion)} ms`,
        `probe work done by: ${probeWork.map((e) => `${e.workerId} attempt ${e.attempt}`).join(', ')}`,
      ],
      verdict,
      maxRecoveryMs: maxOrNull(completion),
    });
    expect(done.state).toBe('SUCCEEDED');
    expect(done.at - killedAt).toBeLessThanOrEqual(RECOVERY_BOUND_MS);
    expect(held).toContain(probe.jobId);
    for (const delay of redispatch) expect(delay).toBeLessThanOrEqual(RECOVERY_BOUND_MS);
    // Done once, by the attempt that replaced the killed one.
    expect(probeWork.map((e) => [e.attempt, e.workerId === victim.workerId])).toEqual([[2, false]]);
    expect(verdict.violations).toEqual([]);
    expect(verdict.jobs).toBeGreaterThan(50);
  });

  it("fault 2: SIGSTOP a worker past its lease, then SIGCONT → its jobs are re-dispatched; the zombie's late results are refused as stale", async ({
    task,
  }) => {
    const s = stack();
    const since = Date.now();
    s.startLoad({ ratePerSec: 40 });
    await sleep(1000);
    // 1.5 s of work on every attempt: the zombie's timer is overdue when it wakes, while attempt 2 still runs.
    const { probe, victim } = await runningProbe(s, 1500, 1500);
    await sleep(200);
    const pausedAt = Date.now();
    victim.pause();
    const firstEpoch = s.recorder.history.dispatches.find((d) => d.jobId === probe.jobId)!.epoch;
    const redispatched = await s.recorder.waitForEvent(
      'the probe job RUNNING elsewhere',
      (e) => e.jobId === probe.jobId && e.kind === 'TRANSITION' && e.state === 'RUNNING' && e.at > pausedAt,
      RECOVERY_BOUND_MS + 5000,
    );
    const held = heldBy(s, victim.workerId, pausedAt);
    victim.resume();
    const resumedAt = Date.now();
    const done = await s.recorder.waitForEvent('the probe job terminal', isTerminalOf(probe.jobId), 15_000);
    // The zombie answers for every job it held; give its late results a moment to be refused.
    await sleep(1500);
    const verdict = await s.check(20_000, { since });
    const refusals = s.recorder.history.refusals.filter((r) => r.workerId === victim.workerId && r.at >= resumedAt);
    const probeRefusal = refusals.find((r) => r.jobId === probe.jobId);
    const { completion } = recoveryOf(s, held, victim.workerId, pausedAt);
    const finalRow = await s.store.db
      .selectFrom('jobs')
      .select(['state', 'worker_id', 'lease_epoch'])
      .where('job_id', '=', probe.jobId)
      .executeTakeFirstOrThrow();

    reportFault(task, {
      fault: '2 worker SIGSTOP past its lease, SIGCONT',
      injected: [
        `SIGSTOP ${victim.workerId} 200 ms into a 1.5 s job (it held ${held.length} jobs), SIGCONT once the job ran elsewhere (${resumedAt - pausedAt} ms later)`,
      ],
      verified: [
        `probe re-dispatched and RUNNING on ${redispatched.workerId} ${redispatched.at - pausedAt} ms after the pause`,
        `zombie results refused: ${refusals.length} (probe: ${probeRefusal ? `${probeRefusal.code} "${probeRefusal.reason}"` : 'none'})`,
        `probe ${done.state} by ${finalRow.worker_id} at epoch ${finalRow.lease_epoch}`,
      ],
      verdict,
      maxRecoveryMs: maxOrNull(completion),
    });
    expect(redispatched.workerId).not.toBe(victim.workerId);
    expect(redispatched.at - pausedAt).toBeLessThanOrEqual(RECOVERY_BOUND_MS);
    expect(probeRefusal).toMatchObject({
      code: '202',
      reason: expect.stringContaining(`stale lease epoch ${firstEpoch}`),
    });
    expect(done.state).toBe('SUCCEEDED');
    expect(finalRow).toMatchObject({ state: 'SUCCEEDED', worker_id: redispatched.workerId });
    expect(finalRow.lease_epoch).toBeGreaterThan(firstEpoch);
    expect(verdict.violations).toEqual([]);
    expect(verdict.stats.staleRefused).toBeGreaterThanOrEqual(1);
  });
});
