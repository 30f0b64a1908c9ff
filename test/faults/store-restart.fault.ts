/**
 * Fault 6: restart the stores under load — Redis (job inputs and results behind pointers) and Postgres (the
 * scheduler's system of record) — on servers the test owns (same port, same data).
 * Expected (issue 6): submits fail fast with a clear error or are held, never silently lost; work resumes after
 * recovery.
 * - 6a Redis SIGKILL, down 2 s: a submit that cannot store its input fails fast with an error naming it; a job whose
 *   worker cannot read its input is retried, and ends SUCCEEDED or, when the retries run out first, FAILED with the
 *   pointer error (dead-lettered, never silent); new submits after the restart complete.
 * - 6b Postgres fast-shutdown restart, down 1 s: JetStream holds the submits (acknowledged) and results until the
 *   scheduler can commit again; every job completes.
 * - 6c Postgres crash (SIGKILL), down 12 s — a failover-sized outage: the same expectation.
 */
import { describe, expect, it } from 'vitest';
import { maxOrNull, reportFault } from './support/fault-report.js';
import { sleep, startSchedulerAndTwoWorkers, useFaultStack } from './support/fault-test-hooks.js';
import { openAt, recoveryAfter } from './support/recovery-time.js';
import { type RestartablePostgres, startRestartablePostgres } from './support/restartable-postgres.js';
import { type RestartableRedis, startRestartableRedis } from './support/restartable-redis.js';

let redis: RestartableRedis;
let postgres: RestartablePostgres;

const stack = useFaultStack(
  async () => {
    [redis, postgres] = await Promise.all([startRestartableRedis(), startRestartablePostgres()]);
    return { name: 'store-restart', redisUrl: redis.url, adminDatabaseUrl: postgres.url, servers: [redis, postgres] };
  },
  (s) => startSchedulerAndTwoWorkers(s),
);

describe('store restarts', () => {
  it('fault 6a: Redis SIGKILL restart → submits fail fast with a clear error, nothing is lost silently, work resumes', async ({
    task,
  }) => {
    const s = stack();
    const since = Date.now();
    s.startLoad({ ratePerSec: 40, expect: ['SUCCEEDED', 'FAILED'] });
    await sleep(1500);
    const downAt = Date.now();
    await redis.restart({ kill: true, downMs: 2000 });
    const upAt = Date.now();
    await sleep(1500);
    // Work resumes: fresh submits after the restart complete.
    const fresh = await Promise.all(Array.from({ length: 20 }, () => s.submitter.submit({ input: { sleepMs: 5 } })));
    const verdict = await s.check(60_000, { since });
    const failedSubmits = s.recorder.history.submits.filter((r) => r.failedAt !== undefined && r.submittedAt >= since);
    const failedJobs = await s.store.db
      .selectFrom('jobs')
      .select(['job_id', 'dlq_reason', 'error_message'])
      .where('state', '=', 'FAILED')
      .where('created_at', '>=', new Date(since))
      .execute();
    const freshStates = await s.store.db
      .selectFrom('jobs')
      .select('state')
      .where(
        'job_id',
        'in',
        fresh.map((r) => r.jobId),
      )
      .execute();

    reportFault(task, {
      fault: '6a Redis SIGKILL restart',
      injected: [
        `SIGKILL redis-server under 40 jobs/s, restarted after 2 s (AOF, fsync always): down ${upAt - downAt} ms`,
      ],
      verified: [
        `submits refused while down: ${failedSubmits.length}, within ${maxOrNull(failedSubmits.map((r) => r.failedAt! - r.submittedAt))} ms each${failedSubmits[0] ? ` ("${failedSubmits[0].error}")` : ''}`,
        `accepted jobs that ran out of retries: ${failedJobs.length}${failedJobs[0] ? ` (${failedJobs[0].dlq_reason}: ${failedJobs[0].error_message})` : ''}`,
        `fresh submits after the restart: ${freshStates.filter((r) => r.state === 'SUCCEEDED').length}/${fresh.length} SUCCEEDED`,
      ],
      verdict,
    });
    expect(verdict.violations).toEqual([]);
    for (const r of failedSubmits) {
      expect(r.error).toMatch(/cannot store the input of job/);
      expect(r.failedAt! - r.submittedAt).toBeLessThan(5000);
    }
    for (const j of failedJobs)
      expect(j.error_message).toMatch(/cannot (read the job input|store the job result) at redis:/);
    expect(fresh.every((r) => r.ackedAt !== undefined)).toBe(true);
    expect(freshStates.map((r) => r.state)).toEqual(fresh.map(() => 'SUCCEEDED'));
  });

  for (const [key, kill, downMs] of [
    ['6b', false, 1000],
    ['6c', true, 12_000],
  ] as const) {
    const how = kill ? `crash (SIGKILL), down ${downMs / 1000} s` : `fast-shutdown restart, down ${downMs / 1000} s`;
    it(`fault ${key}: Postgres ${how} → acknowledged submits are held and every job completes`, async ({ task }) => {
      const s = stack();
      await s.ensureScheduler(`scheduler-${key}`);
      const since = Date.now();
      s.startLoad({ ratePerSec: 40, sagas: true });
      await sleep(1500);
      const downAt = Date.now();
      const openAtDown = openAt(s, downAt);
      await postgres.restart({ kill, downMs });
      const upAt = Date.now();
      await sleep(3000);
      const verdict = await s.check(90_000, { since });
      const duringOutage = s.recorder.history.submits.filter((r) => r.submittedAt >= downAt && r.submittedAt < upAt);
      // In flight when it went down, or acknowledged (held) while it was down.
      const open = [...openAtDown, ...duringOutage.filter((r) => r.ackedAt !== undefined).map((r) => r.jobId)];
      const recovery = await recoveryAfter(s, open, downAt);

      reportFault(task, {
        fault: `${key} Postgres ${how}`,
        injected: [`Postgres ${how} (actual ${upAt - downAt} ms) under 40 jobs/s + sagas`],
        verified: [
          `submits during the outage: ${duringOutage.length}, acknowledged (held by JetStream) ${duringOutage.filter((r) => r.ackedAt !== undefined).length}`,
          recovery.maxMs === null
            ? `of ${open.length} jobs in flight or held during the outage, ${recovery.unfinished.length} never finished`
            : `the ${open.length} jobs in flight or held during the outage finished within ${recovery.maxMs} ms of its start`,
        ],
        verdict,
        maxRecoveryMs: recovery.maxMs,
      });
      expect(verdict.violations).toEqual([]);
      expect(recovery.unfinished).toEqual([]);
    });
  }
});
