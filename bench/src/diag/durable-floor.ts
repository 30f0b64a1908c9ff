/**
 * `node --conditions=@capstan/source --import tsx bench/src/diag/durable-floor.ts [jobs]`: what the servers alone
 * must spend per job for the least work the scheduler issue asks of every job, with no Capstan code in between,
 * beside BullMQ's whole job in the same run. A diagnostic for judging the e2e-noop throughput goal, not a benchmark.
 *
 * The least work, each part done as cheaply as the server allows:
 * - Postgres: the job's row and its transition events, committed before it counts as accepted (the issue: "a job is
 *   accepted once its row commits", "an append-only job-event table"), then its terminal state. Two statements per
 *   batch (accept: the rows and PENDING, SCHEDULED, DISPATCHED events; finish: the update and the SUCCEEDED event),
 *   on a table with only a primary key (Capstan's `jobs` has six more indexes), at 100 jobs per statement (Capstan
 *   reaches ~5 under load) and at 5.
 * - NATS: core publishes only (no JetStream): submit, dispatch, result and the terminal event the client waits for,
 *   each to one subscriber.
 * - Redis: the input pointer written and read, the result pointer written (three plain commands, pipelined).
 * CPU is read from /proc for each server; the Node side (one process playing client, scheduler and worker with no
 * logic at all) is printed apart.
 */
import { createDatabase } from '@capstan/store';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { startBullmqPeer } from '../lib/bullmq-target.js';
import { ownCpuSeconds } from '../lib/e2e-phases.js';
import { closedLoop } from '../lib/load.js';
import { cpuSeconds } from '../lib/processes.js';
import { startServers } from '../lib/stack.js';

const jobs = Number(process.argv[2] ?? 20000);
const servers = await startServers();
const store = await createDatabase({ url: servers.env['DATABASE_URL']!, poolSize: 4 });
const perJobMs = (seconds: number) => ((1000 * seconds) / jobs).toFixed(3);

/** CPU seconds `fn` cost the process `pid` (and its children, for Postgres) and this process. */
async function measure(pid: number, tree: boolean, fn: () => Promise<void>) {
  const [server0, own0] = [cpuSeconds(pid, tree), ownCpuSeconds()];
  const started = performance.now();
  await fn();
  await new Promise((r) => setTimeout(r, 300));
  return {
    server: cpuSeconds(pid, tree) - server0,
    node: ownCpuSeconds() - own0,
    seconds: (performance.now() - started) / 1000 - 0.3,
  };
}

// ---- Postgres
await sql`CREATE TABLE floor_jobs (job_id text PRIMARY KEY, tenant text NOT NULL, topic text NOT NULL,
  state text NOT NULL, request bytea NOT NULL, result_ptr text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())`.execute(store.db);
await sql`CREATE TABLE floor_events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, job_id text NOT NULL,
  seq integer NOT NULL, to_state text NOT NULL, at timestamptz NOT NULL DEFAULT now())`.execute(store.db);
const request = new Uint8Array(120).fill(7);

async function postgresRun(prefix: string, batch: number) {
  const inFlight = new Set<Promise<void>>();
  for (let start = 0; start < jobs; start += batch) {
    const ids = Array.from({ length: Math.min(batch, jobs - start) }, (_, i) => `${prefix}${start + i}`);
    const work = (async () => {
      await sql`WITH j AS (
          INSERT INTO floor_jobs (job_id, tenant, topic, state, request)
          SELECT id, 't', 'job.bench', 'DISPATCHED', ${request} FROM unnest(${ids}::text[]) AS id RETURNING job_id)
        INSERT INTO floor_events (job_id, seq, to_state)
        SELECT job_id, s, (ARRAY['PENDING','SCHEDULED','DISPATCHED'])[s] FROM j, generate_series(1, 3) AS s`.execute(
        store.db,
      );
      await sql`WITH u AS (
          UPDATE floor_jobs SET state = 'SUCCEEDED', result_ptr = 'redis://res:' || job_id, updated_at = now()
          WHERE job_id = ANY(${ids}::text[]) RETURNING job_id)
        INSERT INTO floor_events (job_id, seq, to_state) SELECT job_id, 4, 'SUCCEEDED' FROM u`.execute(store.db);
    })();
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
    if (inFlight.size >= 2) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

// ---- NATS (core): submit → "scheduler" → dispatch → "worker" → result → "scheduler" → event → client.
const nc = await connect({ servers: servers.nats.url });
async function natsRun() {
  const body = new Uint8Array(200).fill(1);
  let done = 0;
  let finished: () => void = () => {};
  const allDone = new Promise<void>((r) => {
    finished = r;
  });
  nc.subscribe('floor.submit', { callback: (_e, m) => nc.publish('floor.dispatch', m.data) });
  nc.subscribe('floor.dispatch', { callback: (_e, m) => nc.publish('floor.result', m.data) });
  nc.subscribe('floor.result', { callback: (_e, m) => nc.publish('floor.event', m.data) });
  nc.subscribe('floor.event', {
    callback: () => {
      if (++done === jobs) finished();
    },
  });
  await nc.flush();
  for (let i = 0; i < jobs; i++) {
    nc.publish('floor.submit', body);
    if (i % 500 === 499) await nc.flush();
  }
  await allDone;
}

// ---- Redis: SET ctx, GET ctx, SET res, auto-pipelined like Capstan's pointer store.
const redis = new Redis(servers.redis.url, { enableAutoPipelining: true });
async function redisRun() {
  const input = JSON.stringify({ i: 1 });
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < jobs; i++) {
    const work = (async () => {
      await redis.set(`ctx:${i}`, input, 'PX', 60_000);
      await redis.get(`ctx:${i}`);
      await redis.set(`res:${i}`, input, 'PX', 60_000);
    })();
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
    if (inFlight.size >= 500) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

await postgresRun('w-', 100); // warm-up
const pg100 = await measure(servers.pg.pid, true, () => postgresRun('a-', 100));
const pg5 = await measure(servers.pg.pid, true, () => postgresRun('b-', 5));
const natsFloor = await measure(servers.nats.pid, false, natsRun);
const redisFloor = await measure(servers.redis.pid, false, redisRun);
await nc.close();
redis.disconnect();
await store.close();

// ---- BullMQ's whole job (client, worker, Redis), as e2e-noop runs it.
const bull = await startBullmqPeer(servers.redis.url, 50, () => {});
await closedLoop(bull.target, 2000, 500);
bull.target.usePrefix('m-');
const bullCpu = () => cpuSeconds(bull.worker.pid!) + cpuSeconds(servers.redis.pid) + ownCpuSeconds();
const b0 = bullCpu();
const bullRun = await closedLoop(bull.target, jobs, 500);
const bullMs = perJobMs(bullCpu() - b0);
await bull.stop();
await servers.stop();

const serversFloor = pg5.server + natsFloor.server + redisFloor.server;
console.log(`per job, ${jobs} jobs, CPU ms of the server process(es):`);
console.log(`  Postgres, 100 jobs per statement: ${perJobMs(pg100.server)} (Node side ${perJobMs(pg100.node)})`);
console.log(`  Postgres,   5 jobs per statement: ${perJobMs(pg5.server)} (Node side ${perJobMs(pg5.node)})`);
console.log(
  `  nats-server, 4 core messages:     ${perJobMs(natsFloor.server)} (Node side ${perJobMs(natsFloor.node)})`,
);
console.log(
  `  redis-server, 3 commands:         ${perJobMs(redisFloor.server)} (Node side ${perJobMs(redisFloor.node)})`,
);
console.log(
  `  servers' floor (Postgres at 100 / at 5 per statement): ${perJobMs(pg100.server + natsFloor.server + redisFloor.server)} / ${perJobMs(serversFloor)}`,
);
console.log(`  Node side's floor (no logic, one process): ${perJobMs(pg5.node + natsFloor.node + redisFloor.node)}`);
console.log(
  `BullMQ, the whole job (worker + client + Redis): ${bullMs} CPU ms, ${bullRun.jobsPerSec.toFixed(0)} jobs/s`,
);
