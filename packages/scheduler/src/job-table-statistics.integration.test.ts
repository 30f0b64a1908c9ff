import { setTimeout as sleep } from 'node:timers/promises';
import { create } from '@bufbuild/protobuf';
import { JobRequestSchema } from '@capstan/gen/cordum/agent/v1/job_pb';
import { uniqueName } from '@capstan/testkit';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { useStack } from './test-support/stack.js';

const stack = useStack();

describe('job table statistics', () => {
  it('the reconciler leader ANALYZEs jobs and job_events once they grew past 1,000 changed rows', async () => {
    const s = await stack().scheduler();
    const analyzes = async () =>
      (
        await sql<{ relname: string; n: string }>`
          SELECT relname, (analyze_count + autoanalyze_count)::text AS n FROM pg_stat_user_tables
          WHERE relname IN ('jobs', 'job_events') ORDER BY relname`.execute(stack().db)
      ).rows.map((r) => [r.relname, Number(r.n)]);
    expect(await analyzes()).toEqual([
      ['job_events', 0],
      ['jobs', 0],
    ]);
    // 1,200 jobs nobody serves: each one row in jobs, two in job_events (PENDING, SCHEDULED).
    const topic = `job.${uniqueName('stats')}`;
    await Promise.all(
      Array.from({ length: 1200 }, () => s.accept(create(JobRequestSchema, { jobId: uniqueName('job'), topic }))),
    );
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const counts = await analyzes();
      if (counts.every(([, n]) => (n as number) > 0)) break;
      await sleep(200);
    }
    expect(s.isLeader()).toBe(true);
    const counts = await analyzes();
    for (const [table, n] of counts) expect(n, `${table} analyzed`).toBeGreaterThan(0);
  });
});
