import { freePort } from '@capstan/testkit';
import { buildDist } from '../lib/build-dist.js';
import { createBullmqTarget } from '../lib/bullmq-target.js';
import { type ClosableTarget, createCapstanTarget } from '../lib/capstan-target.js';
import { createApiKey, createRestTarget } from '../lib/gateway-client.js';
import { sustain } from '../lib/load.js';
import { askProc, rssMiB, spawnProc, stopProc } from '../lib/processes.js';
import { settle, startKernel, startServers } from '../lib/stack.js';
import { round } from '../lib/stats.js';

/** Options of the footprint scenario. */
export interface FootprintOptions {
  /** Seconds each phase samples (idle, and each load). */
  seconds: number;
  /** Jobs in flight under load. */
  window: number;
  log: (line: string) => void;
}

/** RSS over a phase: mean and peak per process (MiB), and the peak of their sum. */
interface Rss {
  meanMiB: Record<string, number>;
  peakMiB: Record<string, number>;
  totalMeanMiB: number;
  totalPeakMiB: number;
}

/** Samples the RSS of `pids` every 100 ms while `during` runs (or for `ms` when it is a number). */
async function sampleRss(pids: Record<string, number>, during: number | (() => Promise<unknown>)): Promise<Rss> {
  const samples: Record<string, number>[] = [];
  const take = () => samples.push(Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, rssMiB(pid)])));
  take();
  const timer = setInterval(take, 100);
  if (typeof during === 'number') await new Promise((r) => setTimeout(r, during));
  else await during();
  clearInterval(timer);
  take();
  const names = Object.keys(pids);
  const total = (s: Record<string, number>) => names.reduce((a, k) => a + s[k]!, 0);
  return {
    meanMiB: Object.fromEntries(
      names.map((k) => [k, round(samples.reduce((a, s) => a + s[k]!, 0) / samples.length, 1)]),
    ),
    peakMiB: Object.fromEntries(names.map((k) => [k, round(Math.max(...samples.map((s) => s[k]!)), 1)])),
    totalMeanMiB: round(samples.reduce((a, s) => a + total(s), 0) / samples.length, 1),
    totalPeakMiB: round(Math.max(...samples.map(total)), 1),
  };
}

/**
 * Resident memory of every Capstan process — scheduler, safety kernel, gateway, SDK worker (concurrency 50) — at
 * idle (started, warmed by 200 jobs, then quiet), under e2e-noop load (NATS submits, window jobs in flight), under
 * e2e-rest load (REST submits + WebSocket events, which also puts the gateway to work), and idle again after the
 * load. Peer: the BullMQ worker process (concurrency 50) at idle and under e2e-noop load. The servers (NATS, Redis,
 * PostgreSQL) are reported beside, not in the totals: both systems need their own servers.
 */
export async function footprint(opts: FootprintOptions) {
  // Deployments run compiled JavaScript on plain node: so does every process here (packages from dist/, the bench
  // process files transpiled); the floor below is that runtime with nothing loaded.
  await buildDist();
  const spawn = { fromDist: true };
  const idle = await spawnProc('idle.ts', {}, spawn);
  await new Promise((r) => setTimeout(r, 500));
  const floorMiB = round(rssMiB(idle.pid!), 1);
  await stopProc(idle);
  opts.log(`runtime floor (plain node, nothing loaded): ${floorMiB} MiB per process`);
  const servers = await startServers();
  const env = { ...servers.env, TOPIC: 'job.bench', CONCURRENCY: '50' };
  const kernel = await startKernel(servers, undefined, spawn);
  const ms = opts.seconds * 1000;
  try {
    const scheduler = await spawnProc('scheduler.ts', { ...env, SAFETY_KERNEL_URL: kernel.url }, spawn);
    const worker = await spawnProc('sdk-worker.ts', env, spawn);
    const port = await freePort();
    const gateway = await spawnProc('gateway.ts', { ...env, CAPSTAN_GATEWAY_PORT: String(port) }, spawn);
    const base = `http://127.0.0.1:${port}`;
    const pids = { scheduler: scheduler.pid!, kernel: kernel.proc.pid!, gateway: gateway.pid!, worker: worker.pid! };
    const capstan: Record<string, Rss & { jobsPerSec?: number }> = {};
    const heapAfterLoad: Record<string, Record<string, number>> = {};
    let natsTarget: ClosableTarget | undefined;
    let restTarget: ClosableTarget | undefined;
    try {
      const apiKey = await createApiKey(base);
      await settle();
      natsTarget = await createCapstanTarget(env, 'job.bench', (i) => ({ i }));
      restTarget = await createRestTarget({ base, apiKey, topic: 'job.bench', input: (i) => ({ i }) });
      // Warm-up so idle means "has run jobs", not "just started".
      natsTarget.usePrefix('warm-nats-');
      await sustain(natsTarget, 300, 50);
      restTarget.usePrefix('warm-rest-');
      await sustain(restTarget, 300, 50);
      await new Promise((r) => setTimeout(r, 500));
      capstan['idle'] = await sampleRss(pids, ms);
      const load = async (name: string, target: ClosableTarget) => {
        target.usePrefix(`${name}-`);
        let jobs = { sent: 0, done: 0, seconds: 1 };
        const rss = await sampleRss(pids, async () => {
          jobs = await sustain(target, ms, opts.window);
        });
        capstan[name] = { ...rss, jobsPerSec: round(jobs.done / jobs.seconds, 0) };
      };
      await load('nats-load', natsTarget);
      await load('rest-load', restTarget);
      await new Promise((r) => setTimeout(r, 500));
      capstan['idle-after-load'] = await sampleRss(pids, ms);
      // Where the memory is: V8 heap in use vs total, and off-heap buffers, per process after the load.
      for (const [name, proc] of Object.entries({ scheduler, kernel: kernel.proc, gateway, worker })) {
        const m = await askProc<NodeJS.MemoryUsage>(proc, 'memory');
        const mib = (b: number) => round(b / 1024 / 1024, 1);
        heapAfterLoad[name] = {
          rss: mib(m.rss),
          heapUsed: mib(m.heapUsed),
          heapTotal: mib(m.heapTotal),
          external: mib(m.external),
          arrayBuffers: mib(m.arrayBuffers),
        };
      }
      opts.log(`memory after load (MiB): ${JSON.stringify(heapAfterLoad)}`);
      for (const [phase, r] of Object.entries(capstan))
        opts.log(
          `capstan ${phase}: total mean ${r.totalMeanMiB} MiB, peak ${r.totalPeakMiB} MiB ${JSON.stringify(r.peakMiB)}`,
        );
    } finally {
      await natsTarget?.close();
      await restTarget?.close();
      await stopProc(gateway);
      await stopProc(worker);
      await stopProc(scheduler);
    }
    const serverRss = {
      nats: round(rssMiB(servers.nats.pid), 1),
      redis: round(rssMiB(servers.redis.pid), 1),
      postgresTree: round(rssMiB(servers.pg.pid, true), 1),
    };
    await kernel.stop();

    const bullWorker = await spawnProc(
      'bullmq-worker.ts',
      { REDIS_URL: servers.redis.url, QUEUE: 'bench', CONCURRENCY: '50' },
      spawn,
    );
    const bullTarget = await createBullmqTarget(servers.redis.url, 'bench', (i) => ({ i }));
    const bullmq: Record<string, Rss & { jobsPerSec?: number }> = {};
    try {
      const bpids = { worker: bullWorker.pid! };
      bullTarget.usePrefix('warm-');
      await sustain(bullTarget, 300, 50);
      await new Promise((r) => setTimeout(r, 500));
      bullmq['idle'] = await sampleRss(bpids, ms);
      bullTarget.usePrefix('load-');
      let jobs = { sent: 0, done: 0, seconds: 1 };
      bullmq['load'] = await sampleRss(bpids, async () => {
        jobs = await sustain(bullTarget, ms, opts.window);
      });
      bullmq['load'].jobsPerSec = round(jobs.done / jobs.seconds, 0);
      for (const [phase, r] of Object.entries(bullmq))
        opts.log(`bullmq ${phase}: worker mean ${r.totalMeanMiB} MiB, peak ${r.totalPeakMiB} MiB`);
    } finally {
      await bullTarget.close();
      await stopProc(bullWorker);
    }
    return {
      scenario: 'footprint',
      peer: 'bullmq',
      params: { seconds: opts.seconds, window: opts.window, workerConcurrency: 50, packages: 'dist' },
      runtimeFloorMiB: floorMiB,
      capstan,
      bullmq,
      capstanMemoryAfterLoadMiB: heapAfterLoad,
      serversAfterCapstanMiB: serverRss,
      ratio: {
        idleTotal: round(capstan['idle']!.totalMeanMiB / bullmq['idle']!.totalMeanMiB, 1),
        loadPeakTotal: round(capstan['nats-load']!.totalPeakMiB / bullmq['load']!.totalPeakMiB, 1),
        workerIdle: round(capstan['idle']!.meanMiB['worker']! / bullmq['idle']!.meanMiB['worker']!, 2),
        workerLoadPeak: round(capstan['nats-load']!.peakMiB['worker']! / bullmq['load']!.peakMiB['worker']!, 2),
      },
    };
  } finally {
    await kernel.stop();
    await servers.stop();
  }
}
