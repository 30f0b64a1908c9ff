/**
 * Fault 5 (quick: it runs in `npm test` too): restart nats-server — gracefully (SIGTERM) and as a crash (SIGKILL) — with thousands of jobs in flight,
 * on the same port and JetStream store. Expected: every client reconnects by itself and every acknowledged job
 * completes (JetStream keeps the acknowledged submits and results; what core NATS loses in the restart — dispatches,
 * progress, results published in that instant — must be recovered by the scheduler).
 */
import { describe, expect, it } from 'vitest';
import { reportFault } from './support/fault-report.js';
import { sleep, startSchedulerAndTwoWorkers, useFaultStack } from './support/fault-test-hooks.js';
import { openAt, recoveryAfter } from './support/recovery-time.js';
import { submitBurst } from './support/submit-burst.js';

const BURST = 3000;

const stack = useFaultStack({ name: 'nats-restart' }, (s) => startSchedulerAndTwoWorkers(s, { concurrency: 50 }));

describe('nats-server restart', { timeout: 150_000 }, () => {
  for (const kill of [false, true]) {
    const how = kill ? 'SIGKILL' : 'graceful (SIGTERM)';
    it(`fault 5${kill ? 'b' : 'a'}: ${how} nats-server restart with thousands of jobs in flight → every acknowledged job completes`, async ({
      task,
    }) => {
      const s = stack();
      await s.ensureScheduler(`scheduler-5${kill ? 'b' : 'a'}`);
      const since = Date.now();
      s.startLoad({ ratePerSec: 50 });
      const burst = submitBurst(s.submitter, BURST, 100, (i) => ({ input: { sleepMs: (i * 7) % 40 } }));
      while (burst.acked() < BURST / 3) await sleep(20);
      const ackedBefore = burst.acked();
      const restartAt = Date.now();
      const open = openAt(s, restartAt);
      await s.nats.restart({ kill });
      const downMs = Date.now() - restartAt;
      const records = await burst.done;
      const verdict = await s.check(90_000, { since });
      const recovery = await recoveryAfter(s, open, restartAt);
      const failedSubmits = records.filter((r) => r.ackedAt === undefined);

      reportFault(task, {
        fault: `5${kill ? 'b' : 'a'} nats-server ${how} restart`,
        injected: [
          `${how} restart of nats-server (down ${downMs} ms) after ${ackedBefore} of a ${BURST}-job burst were acknowledged, load 50 jobs/s on top`,
        ],
        verified: [
          `submits not acknowledged during the restart: ${failedSubmits.length}${failedSubmits[0] ? ` (e.g. "${failedSubmits[0].error}")` : ''}`,
          recovery.maxMs === null
            ? `of ${open.length} jobs in flight at the restart, ${recovery.unfinished.length} never finished`
            : `the ${open.length} jobs in flight at the restart all finished within ${recovery.maxMs} ms of it`,
        ],
        verdict,
        maxRecoveryMs: recovery.maxMs,
      });
      expect(verdict.violations).toEqual([]);
      expect(recovery.unfinished).toEqual([]);
      expect(verdict.jobs).toBeGreaterThan(BURST / 2);
    });
  }
});
