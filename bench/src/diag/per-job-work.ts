/**
 * `node --conditions=@capstan/source --import tsx bench/src/diag/per-job-work.ts [jobs]`: runs e2e-noop's Capstan
 * pipeline (kernel Check with its cache, scheduler, SDK worker) at full speed and prints what each job costs the
 * servers: Postgres transactions and rows written, NATS messages in/out, Redis commands by name, plus CPU per
 * process (BENCH_DIST=1 runs them from the built packages, BENCH_PROF=<dir> profiles them). A diagnostic for finding where per-job work can be cut, not a benchmark.
 */
import { createDatabase } from '@capstan/store';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { buildDist } from '../lib/build-dist.js';
import { createCapstanTarget } from '../lib/capstan-target.js';
import { ownCpuSeconds } from '../lib/e2e-phases.js';
import { closedLoop } from '../lib/load.js';
import { cpuSeconds, spawnFromDistByDefault, syscallCounts } from '../lib/processes.js';
import { startNoopPipeline } from '../lib/stack.js';

// BENCH_DIST=1: the processes run the built packages on plain node, as in `pnpm bench` (better CPU profiles).
if (process.env['BENCH_DIST']) {
  await buildDist();
  spawnFromDistByDefault(true);
}
const jobs = Number(process.argv[2] ?? 10000);
const { servers, env, kernel, scheduler, worker, stop } = await startNoopPipeline();
const target = await createCapstanTarget(env, 'job.bench', (i) => ({ i }));
target.usePrefix('w-');
await closedLoop(target, 2000, 500);
target.usePrefix('m-');

const store = await createDatabase({ url: servers.env['DATABASE_URL']! });
const redis = new Redis(servers.env['REDIS_URL']!);
const pgStats = async () =>
  (
    await sql<
      Record<string, string>
    >`SELECT xact_commit::int8 AS commits, tup_inserted::int8 AS ins, tup_updated::int8 AS upd, tup_deleted::int8 AS del,
              (SELECT sum(n_tup_hot_upd)::int8 FROM pg_stat_user_tables) AS hot
       FROM pg_stat_database WHERE datname = current_database()`.execute(store.db)
  ).rows[0]!;
const redisStats = async () => {
  const info = await redis.info('commandstats');
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/cmdstat_(\w+):calls=(\d+)/g)) out[m[1]!] = Number(m[2]);
  return out;
};
const pids = {
  scheduler: [scheduler.pid!, false],
  worker: [worker.pid!, false],
  kernel: [kernel.proc.pid!, false],
  nats: [servers.nats.pid, false],
  redis: [servers.redis.pid, false],
  postgres: [servers.pg.pid, true],
  client: [process.pid, false],
} as const;
const syscalls = () =>
  Object.fromEntries(Object.entries(pids).map(([k, [pid, tree]]) => [k, syscallCounts(pid, tree)]));
const cpu = () => ({
  scheduler: cpuSeconds(scheduler.pid!),
  worker: cpuSeconds(worker.pid!),
  kernel: cpuSeconds(kernel.proc.pid!),
  nats: cpuSeconds(servers.nats.pid),
  redis: cpuSeconds(servers.redis.pid),
  postgres: cpuSeconds(servers.pg.pid, true),
  client: ownCpuSeconds(),
});
await new Promise((r) => setTimeout(r, 1500)); // let pg stats settle (they are flushed by backends periodically)
const [p0, r0, c0, s0] = [await pgStats(), await redisStats(), cpu(), syscalls()];
const res = await closedLoop(target, jobs, 500);
const s1 = syscalls();
await new Promise((r) => setTimeout(r, 1500));
const [p1, r1, c1] = [await pgStats(), await redisStats(), cpu()];
const per = (a: number, b: number) => ((b - a) / jobs).toFixed(2);
console.log(`jobs/s ${res.jobsPerSec.toFixed(0)} (lost ${res.lost})`);
console.log(
  `postgres per job: commits ${per(+p0.commits!, +p1.commits!)} inserted ${per(+p0.ins!, +p1.ins!)} updated ${per(+p0.upd!, +p1.upd!)} (HOT ${per(+p0.hot!, +p1.hot!)}) deleted ${per(+p0.del!, +p1.del!)}`,
);
console.log(
  `redis per job: ${Object.keys(r1)
    .map((k) => [k, ((r1[k] ?? 0) - (r0[k] ?? 0)) / jobs] as const)
    .filter(([, v]) => v > 0.01)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ')}`,
);
console.log(
  `cpu ms per job: ${Object.keys(c1)
    .map(
      (k) =>
        `${k} ${((1000 * ((c1 as Record<string, number>)[k]! - (c0 as Record<string, number>)[k]!)) / jobs).toFixed(3)}`,
    )
    .join(', ')}`,
);
console.log(
  `system calls per job (read / write / context switches): ${Object.keys(s1)
    .map((k) => {
      const [a, b] = [s0[k]!, s1[k]!];
      return `${k} ${per(a.reads, b.reads)} / ${per(a.writes, b.writes)} / ${per(a.switches, b.switches)}`;
    })
    .join(', ')}`,
);
const scans = await sql<Record<string, string>>`
  SELECT relname, seq_scan::int8 AS seq_scan, seq_tup_read::int8 AS seq_tup_read, idx_scan::int8 AS idx_scan,
         n_live_tup::int8 AS live, analyze_count::int8 + autoanalyze_count::int8 AS analyzes
  FROM pg_stat_user_tables WHERE relname IN ('jobs', 'job_events') ORDER BY relname`.execute(store.db);
console.log(`table scans (whole run): ${JSON.stringify(scans.rows)}`);
const events = await sql<{ to_state: string; n: string }>`
  SELECT to_state, count(*)::int8 AS n FROM job_events WHERE job_id LIKE 'm-%' GROUP BY 1 ORDER BY 1`.execute(store.db);
console.log(
  `job events per job: ${events.rows.map((r) => `${r.to_state} ${(Number(r.n) / jobs).toFixed(2)}`).join(', ')}`,
);
await target.close();
await store.close();
redis.disconnect();
await stop();
