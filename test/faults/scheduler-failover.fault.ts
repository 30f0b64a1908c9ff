/**
 * Fault 4: two scheduler replicas under a steady background load (with saga workflows), two SDK worker processes;
 * SIGKILL the reconciler leader → the other takes the leader lease, picks up the dead replica's overdue jobs, and no
 * job is lost.
 */
import { describe, expect, it } from 'vitest';
import { reportFault } from './support/fault-report.js';
import { sleep, startSchedulerAndTwoWorkers, useFaultStack } from './support/fault-test-hooks.js';
import { openAt, recoveryAfter } from './support/recovery-time.js';

const stack = useFaultStack({ name: 'scheduler-failover' }, (s) => startSchedulerAndTwoWorkers(s, { concurrency: 50 }));

describe('scheduler failover', () => {
  it('fault 4: two schedulers, SIGKILL the reconciler leader → the other takes over the reconciler; no job lost', async ({
    task,
  }) => {
    const s = stack();
    const since = Date.now();
    await s.startScheduler('scheduler-b');
    const load = s.startLoad({ ratePerSec: 100, sagas: true });
    await sleep(3000);
    const leaderId = async () =>
      (
        await s.store.db
          .selectFrom('leader_leases')
          .select(['holder', 'epoch', 'expires_at'])
          .where('name', '=', 'reconciler')
          .executeTakeFirst()
      )?.holder;
    const before = await leaderId();
    const leader = s.schedulers.find((p) => p.alive() && p.schedulerId === before);
    const survivor = s.schedulers.find((p) => p.alive() && p.schedulerId !== before);
    expect(leader, `the leader ${before} is one of our live replicas`).toBeDefined();
    expect(survivor).toBeDefined();
    const killedAt = Date.now();
    await leader!.kill();
    const open = openAt(s, killedAt);
    let takeoverMs: number | null = null;
    while (Date.now() - killedAt < 15_000) {
      if ((await leaderId()) === survivor!.schedulerId) {
        takeoverMs = Date.now() - killedAt;
        break;
      }
      await sleep(100);
    }
    await sleep(3000);
    await load.stop();
    const verdict = await s.check(60_000, { since, maxExecutionsPerJob: 1 });
    const recovery = await recoveryAfter(s, open, killedAt);

    reportFault(task, {
      fault: '4 two schedulers, kill the leader',
      injected: [`SIGKILL the reconciler leader ${leader!.name} under 100 jobs/s + sagas; ${survivor!.name} stays`],
      verified: [
        `${survivor!.name} holds the reconciler lease ${takeoverMs === null ? 'NOT within 15 s' : `${takeoverMs} ms after the kill`} (lease 5 s)`,
        recovery.maxMs === null
          ? `of ${open.length} jobs open at the kill, NOT finished: ${recovery.unfinished.join(', ')}`
          : `${open.length} jobs open at the kill finished within ${recovery.maxMs} ms`,
      ],
      verdict,
      maxRecoveryMs: recovery.maxMs,
    });
    expect(takeoverMs).not.toBeNull();
    expect(takeoverMs!).toBeLessThanOrEqual(5000 + 2000);
    expect(verdict.violations).toEqual([]);
    expect(recovery.unfinished).toEqual([]);
  });
});
