/**
 * Fault 3 (quick: it runs in `npm test` too), under a steady background load with saga workflows and two SDK worker
 * processes: SIGKILL the only scheduler replica with jobs in flight — some received and not yet committed, some
 * committed and not yet published — then start it again, twice → every acknowledged job completes, none stuck,
 * none run twice. Fault 4 (two replicas, kill the leader) is `scheduler-failover.fault.ts`.
 */
import { describe, expect, it } from 'vitest';
import { reportFault } from './support/fault-report.js';
import type { FaultStack } from './support/fault-stack.js';
import { sleep, startSchedulerAndTwoWorkers, useFaultStack } from './support/fault-test-hooks.js';
import { openAt, recoveryAfter } from './support/recovery-time.js';

/** Jobs per second while the scheduler is killed: enough to have jobs in every window of the pipeline. */
const RATE = 200;

const stack = useFaultStack({ name: 'scheduler-crash' }, (s) => startSchedulerAndTwoWorkers(s, { concurrency: 50 }));

/**
 * Where the jobs open at the kill were in the pipeline, from Postgres and the bus: acknowledged but not committed
 * (their PENDING row was written after the kill), committed as DISPATCHED before the kill but never published
 * (no dispatch packet seen), and the rest (running on a worker, waiting for a retry...).
 */
async function windowsAt(s: FaultStack, jobs: readonly string[], killedAt: number) {
  if (jobs.length === 0) return { uncommitted: 0, unpublished: 0, other: 0 };
  const events = await s.store.db
    .selectFrom('job_events')
    .select(['job_id', 'to_state', 'attempt', 'lease_epoch', 'at'])
    .where('job_id', 'in', jobs)
    .execute();
  const dispatched = new Set(s.recorder.history.dispatches.map((d) => `${d.jobId}/${d.epoch}`));
  let uncommitted = 0;
  let unpublished = 0;
  for (const id of jobs) {
    const mine = events.filter((e) => e.job_id === id);
    const accepted = mine.find((e) => e.to_state === 'PENDING');
    if (!accepted || accepted.at.getTime() > killedAt) uncommitted++;
    else if (
      mine.some(
        (e) => e.to_state === 'DISPATCHED' && e.at.getTime() <= killedAt && !dispatched.has(`${id}/${e.lease_epoch}`),
      )
    )
      unpublished++;
  }
  return { uncommitted, unpublished, other: jobs.length - uncommitted - unpublished };
}

describe('scheduler faults', { timeout: 150_000 }, () => {
  it('fault 3: SIGKILL the scheduler with jobs in flight → the restarted replica finishes every job, none stuck or duplicated', async ({
    task,
  }) => {
    const s = stack();
    const since = Date.now();
    const load = s.startLoad({ ratePerSec: RATE, sagas: true });
    // Two crashes: the first hits a replica that dispatches directly to the workers (it heard their handshakes); the
    // restarted one started after them and dispatches through the topic's queue group — both paths get a crash.
    const cycles: { name: string; killedAt: number; restartMs: number; open: string[] }[] = [];
    let victim = s.schedulers[0]!;
    for (let cycle = 1; cycle <= 2; cycle++) {
      await sleep(3000);
      // Freeze it first, then SIGKILL: the transactions it had already sent commit in Postgres while it can no
      // longer publish what follows them — the commit→publish window, which a bare SIGKILL hits only by chance.
      const killedAt = Date.now();
      victim.pause();
      await sleep(200);
      await victim.kill();
      const open = openAt(s, killedAt);
      await sleep(1000);
      victim = await s.startScheduler(`scheduler-a-restart-${cycle}`, { schedulerId: victim.schedulerId });
      cycles.push({ name: victim.name, killedAt, restartMs: Date.now() - killedAt, open });
    }
    await sleep(2000);
    await load.stop();
    // Submits and results a dead replica had received but not acknowledged come back after JetStream's ack wait (5 s).
    const verdict = await s.check(60_000, { since, maxExecutionsPerJob: 1 });
    const lines: string[] = [];
    const unfinished: string[] = [];
    let maxRecoveryMs: number | null = 0;
    for (const [i, c] of cycles.entries()) {
      const windows = await windowsAt(s, c.open, c.killedAt);
      const recovery = await recoveryAfter(s, c.open, c.killedAt);
      unfinished.push(...recovery.unfinished);
      maxRecoveryMs =
        recovery.maxMs === null || maxRecoveryMs === null ? null : Math.max(maxRecoveryMs, recovery.maxMs);
      lines.push(
        `crash ${i + 1}: ${c.open.length} jobs open: ${windows.uncommitted} acknowledged but not committed, ${windows.unpublished} committed DISPATCHED but never published, ${windows.other} elsewhere (running, waiting); ` +
          (recovery.maxMs === null
            ? `NOT all finished: ${recovery.unfinished.join(', ')}`
            : `all finished within ${recovery.maxMs} ms of the kill`),
      );
    }

    reportFault(task, {
      fault: '3 scheduler SIGKILL with jobs in flight',
      injected: cycles.map(
        (c, i) =>
          `crash ${i + 1}: SIGSTOP + SIGKILL 200 ms later of the only scheduler replica under ${RATE} jobs/s + sagas; ${c.name} (same id) up ${c.restartMs} ms later`,
      ),
      verified: lines,
      verdict,
      maxRecoveryMs,
    });
    for (const c of cycles) expect(c.open.length).toBeGreaterThan(0);
    expect(verdict.violations).toEqual([]);
    expect(unfinished).toEqual([]);
  });
});
