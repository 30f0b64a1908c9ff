import type { ChildProcess } from 'node:child_process';
import { createCapstanTarget } from '../lib/capstan-target.js';
import {
  type E2eFigures,
  type E2ePhaseOptions,
  ownCpuSeconds,
  ratioTo,
  runBullmqPhases,
  runE2ePhases,
} from '../lib/e2e-phases.js';
import { cpuSeconds, spawnProc, stopProc } from '../lib/processes.js';
import { settle, startKernel, startServers } from '../lib/stack.js';

/** Options of the e2e-noop scenario. */
export interface E2eNoopOptions extends E2ePhaseOptions {
  /** Worker concurrency (both systems; BullMQ's benchmark uses 50). */
  concurrency: number;
  /** Capstan variants to run; `kernel` (the headline) is always run. @default all three */
  variants?: readonly (keyof typeof VARIANTS)[];
  log: (line: string) => void;
}

/** How the scheduler decides policy in a Capstan variant. */
export const VARIANTS = {
  /** The default deployment: Check on the safety kernel, decisions cached by the client (cacheable bundle). */
  kernel: { kernel: true, cacheTtlMs: 10_000 },
  /** Every job is a Check RPC to the kernel (decision cache off). */
  'kernel-no-cache': { kernel: true, cacheTtlMs: 0 },
  /** No kernel: the scheduler's in-process allow-all policy (what `CAPSTAN_SAFETY_KERNEL_URL=` empty gives). */
  'allow-all': { kernel: false, cacheTtlMs: 0 },
} as const;

/**
 * No-op jobs end to end. Capstan: submit over NATS (input at redis://ctx, JetStream-acked submit) → scheduler
 * (policy Check on the safety kernel, durable row, dispatch) → SDK worker → result pointer → durable result → job
 * event, in three policy variants (kernel with its decision cache, kernel without it, no kernel). Peer: BullMQ
 * `Queue.add` + `Worker` (own process, same concurrency) on the same Redis, completion via QueueEvents. Each: a
 * throughput phase (closed loop) and a latency phase at half of its own measured throughput.
 */
export async function e2eNoop(opts: E2eNoopOptions) {
  const servers = await startServers();
  const { nats, redis, pg } = servers;
  const env = { ...servers.env, TOPIC: 'job.bench', CONCURRENCY: String(opts.concurrency) };
  const kernel = await startKernel(servers);
  try {
    const capstan: Record<string, E2eFigures> = {};
    const wanted = new Set<string>(['kernel', ...(opts.variants ?? Object.keys(VARIANTS))]);
    for (const [name, v] of Object.entries(VARIANTS)) {
      if (!wanted.has(name)) continue;
      opts.log(`capstan/${name}: starting scheduler and worker processes`);
      const scheduler = await spawnProc('scheduler.ts', {
        ...env,
        ...(v.kernel ? { SAFETY_KERNEL_URL: kernel.url, POLICY_CACHE_TTL_MS: String(v.cacheTtlMs) } : {}),
      });
      const worker = await spawnProc('sdk-worker.ts', env);
      await settle();
      const target = await createCapstanTarget(env, 'job.bench', (i) => ({ i }));
      const procs: Record<string, ChildProcess> = { scheduler, worker, ...(v.kernel ? { kernel: kernel.proc } : {}) };
      const cpu = () => ({
        ...Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, cpuSeconds(p.pid!)])),
        client: ownCpuSeconds(),
        nats: cpuSeconds(nats.pid),
        redis: cpuSeconds(redis.pid),
        postgres: cpuSeconds(pg.pid, true),
      });
      try {
        capstan[name] = await runE2ePhases(target, `capstan/${name}`, opts, cpu, opts.log);
      } finally {
        await target.close();
        await stopProc(worker);
        await stopProc(scheduler);
      }
    }
    await kernel.stop();
    if (process.env['BENCH_ONLY'] === 'capstan') return { scenario: 'e2e-noop', capstanOnly: true, capstan };

    const bullmq = await runBullmqPhases(redis, opts.concurrency, opts, opts.log);

    const ratioOf = (c: E2eFigures) => ratioTo(c, bullmq);
    const headline = capstan['kernel']!;
    const ratio = ratioOf(headline);
    opts.log(
      `ratio to BullMQ (capstan with kernel Check): jobs/s ${ratio.jobsPerSec}×, p99 at half load ${ratio.p99AtHalfLoad}×`,
    );
    return {
      scenario: 'e2e-noop',
      peer: 'bullmq',
      params: {
        jobs: opts.jobs,
        window: opts.window,
        warmup: opts.warmup,
        latencySeconds: opts.latencySeconds,
        concurrency: opts.concurrency,
      },
      // The headline: the default deployment (kernel Check, client decision cache on).
      capstan: headline,
      capstanVariants: capstan,
      bullmq,
      ratio,
      ratioByVariant: Object.fromEntries(Object.entries(capstan).map(([k, c]) => [k, ratioOf(c)])),
      goals: {
        jobsPerSecAtLeastPeer: headline.jobsPerSec >= bullmq.jobsPerSec,
        p99UnderTwentyMsAtHalfLoad: headline.halfLoadLatencyMs.p99 < 20,
      },
    };
  } finally {
    await kernel.stop();
    await servers.stop();
  }
}
