import { isTerminal, type JobState } from '@capstan/jobs';
import { uniqueName } from '@capstan/testkit';
import { describe, expect, it } from 'vitest';
import { useStack } from './test-support/stack.js';

const stack = useStack();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls the topic's jobs until all `n` ended; returns the most found queued or running at once. */
async function maxOpenUntilDone(tp: string, n: number): Promise<number> {
  let maxOpen = 0;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const rows = await stack().db.selectFrom('jobs').select('state').where('topic', '=', tp).execute();
    const open = rows.filter((r) => !isTerminal(r.state as JobState));
    maxOpen = Math.max(maxOpen, open.length);
    if (rows.length === n && open.length === 0) return maxOpen;
    if (Date.now() > deadline) throw new Error(`not all done: ${rows.length} recorded, ${open.length} open`);
    await sleep(20);
  }
}

describe('admission: maxOpenJobs', () => {
  it('counts the jobs of every replica: two replicas hold at most the bound each between two counts', async () => {
    const a = await stack().scheduler({ maxOpenJobs: 4 });
    const b = await stack().scheduler({ maxOpenJobs: 4 });
    const tp = `job.${uniqueName('adm2')}`;
    await stack().worker(tp, { maxParallel: 16 });
    for (let i = 0; i < 16; i++) await stack().submit(tp, { sleepMs: 500 });
    // A burst reaches both replicas before either has counted the other's jobs: at most 4 each then; from the next
    // count on (100 ms) the bound holds for both together, so the 16 jobs take four rounds, not two.
    const started = Date.now();
    expect(await maxOpenUntilDone(tp, 16)).toBeLessThanOrEqual(8);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    const waits = async (s: typeof a) =>
      (await s.metrics.getSingleMetric('capstan_admission_waits_total')?.get())?.values[0]?.value ?? 0;
    expect((await waits(a)) + (await waits(b))).toBeGreaterThan(0);
  });

  it('takes no new submits while the bound of queued or running jobs is reached, and takes them as jobs end', async () => {
    const sched = await stack().scheduler({ maxOpenJobs: 3 });
    const tp = `job.${uniqueName('adm')}`;
    await stack().worker(tp, { maxParallel: 8 });
    const jobs = [];
    for (let i = 0; i < 7; i++) jobs.push(await stack().submit(tp, { sleepMs: 600 }));
    await sleep(300);
    // Three recorded (and running); the other four wait in the submit stream, not in Postgres.
    const recorded = await stack().db.selectFrom('jobs').select(['job_id', 'state']).where('topic', '=', tp).execute();
    expect(recorded).toHaveLength(3);
    // As they end, the rest are taken, never more than three open at once.
    let maxOpen = 0;
    const deadline = Date.now() + 15_000;
    for (;;) {
      const rows = await stack().db.selectFrom('jobs').select('state').where('topic', '=', tp).execute();
      const open = rows.filter((r) => !isTerminal(r.state as JobState));
      maxOpen = Math.max(maxOpen, open.length);
      if (rows.length === 7 && open.length === 0) break;
      if (Date.now() > deadline) throw new Error(`not all done: ${rows.length} recorded, ${open.length} open`);
      await sleep(25);
    }
    expect(maxOpen).toBeLessThanOrEqual(3);
    for (const j of jobs) expect((await stack().terminal(j.jobId))['state']).toBe('SUCCEEDED');
    const waits = (await sched.metrics.getSingleMetric('capstan_admission_waits_total')?.get())?.values[0]?.value;
    expect(waits).toBeGreaterThan(0);
  });
});
