import { fromBinary } from '@bufbuild/protobuf';
import { createBus } from '@capstan/bus';
import { JobEventSchema } from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import { createPointerStore } from '@capstan/pointers';
import { jobEventsWildcard } from '@capstan/protocol';
import { createDatabase, migrateToLatest } from '@capstan/store';
import { startNats, startPostgres, startRedis } from '@capstan/testkit';
import { createClient } from '@capstan/worker';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { closedLoop, type LoadTarget, openLoop } from '../lib/load.js';
import { cpuSeconds, spawnProc, stopProc } from '../lib/processes.js';
import { round, summarize } from '../lib/stats.js';

/** Options of the e2e-noop scenario. */
export interface E2eNoopOptions {
  /** Jobs in the throughput phase. */
  jobs: number;
  /** Jobs in flight in the throughput phase (both systems). */
  window: number;
  /** Worker concurrency (both systems; BullMQ's benchmark uses 50). */
  concurrency: number;
  log: (line: string) => void;
}

/**
 * No-op jobs end to end. Capstan: submit over NATS (input at redis://ctx, JetStream-acked submit) → scheduler
 * (policy Check, durable row, dispatch) → SDK worker (separate process) → result pointer → durable result → job event.
 * Peer: BullMQ `Queue.add` + `Worker` (separate process, same concurrency) on the same Redis, completion via
 * QueueEvents. Both: a throughput phase (closed loop) and a latency phase at half of the measured throughput.
 */
export async function e2eNoop(opts: E2eNoopOptions) {
  const [nats, redis, pg] = await Promise.all([startNats(), startRedis(), startPostgres({ maxConnections: 100 })]);
  try {
    const store = await createDatabase({ url: pg.url });
    await migrateToLatest(store.db);
    await store.close();
    const env = {
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      DATABASE_URL: pg.url,
      TOPIC: 'job.bench',
      CONCURRENCY: String(opts.concurrency),
    };

    // ---------- Capstan ----------
    opts.log('capstan: starting scheduler and worker processes');
    const scheduler = await spawnProc('scheduler.ts', env);
    const worker = await spawnProc('sdk-worker.ts', env);
    await new Promise((r) => setTimeout(r, 1500)); // handshake + heartbeats reach the scheduler
    const bus = await createBus({ servers: nats.url, senderId: 'bench-client' });
    const pointers = createPointerStore({ redis: redis.url });
    const client = createClient({ bus, pointers });
    const capstanDone: ((i: number) => void)[] = [];
    bus.nc.subscribe(jobEventsWildcard(), {
      callback: (_e, m) => {
        const ev = fromBinary(JobEventSchema, m.data);
        if (ev.job?.state === 'SUCCEEDED') for (const cb of capstanDone) cb(Number(ev.job.jobId.slice(2)));
      },
    });
    const capstan: LoadTarget = {
      submit: async (i) => {
        await client.submit({ topic: 'job.bench', jobId: `b-${i}`, input: { i } });
      },
      onDone: (cb) => {
        capstanDone.length = 0;
        capstanDone.push(cb);
      },
    };
    await closedLoop(capstan, Math.min(1000, opts.jobs), opts.window, 10_000_000); // warm-up
    const parts = (): Record<string, number> => ({
      scheduler: cpuSeconds(scheduler.pid!),
      worker: cpuSeconds(worker.pid!),
      client: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
      nats: cpuSeconds(nats.pid),
      redis: cpuSeconds(redis.pid),
      postgres: cpuSeconds(pg.pid, true),
    });
    const sum = (p: Record<string, number>) => Object.values(p).reduce((a, b) => a + b, 0);
    const p0 = parts();
    const cThroughput = await closedLoop(capstan, opts.jobs, opts.window, 0);
    const p1 = parts();
    const cpu0 = sum(p0);
    const cpu1 = sum(p1);
    const cpuSplit = Object.fromEntries(
      Object.keys(p0).map((k) => [k, round((p1[k]! - p0[k]!) / (opts.jobs / 1000), 3)]),
    );
    opts.log(`capstan: CPU-seconds per 1000 jobs by process: ${JSON.stringify(cpuSplit)}`);
    opts.log(`capstan: ${round(cThroughput.jobsPerSec, 0)} jobs/s (closed loop, window ${opts.window})`);
    const cRate = cThroughput.jobsPerSec / 2;
    const cLatency = await openLoop(capstan, Math.max(500, Math.round(cRate * 5)), cRate, 20_000_000);
    opts.log(`capstan: latency at ${round(cRate, 0)} jobs/s: ${JSON.stringify(summarize(cLatency.latencies))}`);
    await bus.close();
    await pointers.close();
    await stopProc(worker);
    await stopProc(scheduler);

    // ---------- BullMQ ----------
    if (process.env['BENCH_ONLY'] === 'capstan') return { scenario: 'e2e-noop', capstanOnly: true };
    opts.log('bullmq: starting worker process');
    const bullWorker = await spawnProc('bullmq-worker.ts', {
      REDIS_URL: redis.url,
      QUEUE: 'bench',
      CONCURRENCY: String(opts.concurrency),
    });
    const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue('bench', { connection: conn });
    const events = new QueueEvents('bench', { connection: new Redis(redis.url, { maxRetriesPerRequest: null }) });
    await events.waitUntilReady();
    const bullDone: ((i: number) => void)[] = [];
    events.on('completed', ({ jobId }) => {
      for (const cb of bullDone) cb(Number(jobId.slice(2)));
    });
    const bull: LoadTarget = {
      submit: async (i) => {
        await queue.add('noop', { i }, { jobId: `b-${i}`, removeOnComplete: true });
      },
      onDone: (cb) => {
        bullDone.length = 0;
        bullDone.push(cb);
      },
    };
    await closedLoop(bull, Math.min(1000, opts.jobs), opts.window, 10_000_000);
    const bcpu0 =
      cpuSeconds(bullWorker.pid!) +
      process.cpuUsage().user / 1e6 +
      process.cpuUsage().system / 1e6 +
      cpuSeconds(redis.pid);
    const bThroughput = await closedLoop(bull, opts.jobs, opts.window, 0);
    const bcpu1 =
      cpuSeconds(bullWorker.pid!) +
      process.cpuUsage().user / 1e6 +
      process.cpuUsage().system / 1e6 +
      cpuSeconds(redis.pid);
    opts.log(`bullmq: ${round(bThroughput.jobsPerSec, 0)} jobs/s`);
    const bRate = bThroughput.jobsPerSec / 2;
    const bLatency = await openLoop(bull, Math.max(500, Math.round(bRate * 5)), bRate, 20_000_000);
    opts.log(`bullmq: latency at ${round(bRate, 0)} jobs/s: ${JSON.stringify(summarize(bLatency.latencies))}`);
    await events.close();
    await queue.close();
    await stopProc(bullWorker);

    const c = {
      jobsPerSec: round(cThroughput.jobsPerSec, 0),
      throughputLatencyMs: summarize(cThroughput.latencies),
      halfLoadRate: round(cRate, 0),
      halfLoadLatencyMs: summarize(cLatency.latencies),
      lostAtHalfLoad: cLatency.lost,
      cpuSecondsPer1000Jobs: round(((cpu1 - cpu0) / opts.jobs) * 1000, 3),
      cpuSecondsPer1000JobsByProcess: cpuSplit,
    };
    const b = {
      jobsPerSec: round(bThroughput.jobsPerSec, 0),
      throughputLatencyMs: summarize(bThroughput.latencies),
      halfLoadRate: round(bRate, 0),
      halfLoadLatencyMs: summarize(bLatency.latencies),
      lostAtHalfLoad: bLatency.lost,
      cpuSecondsPer1000Jobs: round(((bcpu1 - bcpu0) / opts.jobs) * 1000, 3),
    };
    return {
      scenario: 'e2e-noop',
      peer: 'bullmq',
      params: { jobs: opts.jobs, window: opts.window, concurrency: opts.concurrency },
      capstan: c,
      bullmq: b,
      ratio: {
        jobsPerSec: round(c.jobsPerSec / b.jobsPerSec, 2),
        p99AtHalfLoad: round(c.halfLoadLatencyMs.p99 / b.halfLoadLatencyMs.p99, 2),
      },
      goals: {
        jobsPerSecAtLeastPeer: c.jobsPerSec >= b.jobsPerSec,
        p99UnderTwentyMsAtHalfLoad: c.halfLoadLatencyMs.p99 < 20,
      },
    };
  } finally {
    await Promise.all([nats.stop(), redis.stop(), pg.stop()]);
  }
}
