import { freePort } from '@capstan/testkit';
import { startBullmqPeer } from '../lib/bullmq-target.js';
import type { ClosableTarget } from '../lib/capstan-target.js';
import { createApiKey, createRestTarget, RestSubmitRefusal } from '../lib/gateway-client.js';
import { closedLoop } from '../lib/load.js';
import { type MemoryPeaks, watchMemory } from '../lib/memory-peaks.js';
import { type OfferedLoadFigures, offeredLoad } from '../lib/offered-load.js';
import { spawnProc, stopProc } from '../lib/processes.js';
import { settle, startKernel, startServers } from '../lib/stack.js';
import { round } from '../lib/stats.js';

/** Options of the overload scenario. */
export interface OverloadOptions {
  /** Jobs of the closed-loop capacity measurement (as e2e-rest's throughput phase). */
  capacityJobs: number;
  /** Jobs in flight while measuring capacity. */
  window: number;
  /** Unmeasured jobs first. */
  warmup: number;
  /** Seconds of the half-load phase (open loop at half the capacity), the latency the overload is compared with. */
  halfLoadSeconds: number;
  /** Seconds of offered overload. */
  overloadSeconds: number;
  /** Offered load as a multiple of the measured capacity. */
  factor: number;
  /**
   * The queueing delay a full submit backlog may add, ms: the backlog bound (CAPSTAN_SUBMIT_BACKLOG_MAX) is
   * capacity × this, so a submit admitted at the back of a full backlog waits about this long for the scheduler.
   */
  backlogDelayMs: number;
  /** The gateway's CAPSTAN_GATEWAY_JOB_SUBMIT_MAX_IN_FLIGHT. */
  gatewayMaxInFlight: number;
  /** Worker concurrency (both systems). */
  concurrency: number;
  /** Keep-alive HTTP connections from the client to the gateway. */
  connections: number;
  log: (line: string) => void;
}

/** One system's figures. */
interface SystemFigures {
  capacityJobsPerSec: number;
  halfLoad: OfferedLoadFigures;
  overload: OfferedLoadFigures;
  /** Admitted p50/p99 under overload over the half-load p50/p99. */
  latencyGrowth: { p50: number; p99: number };
  /** RSS over the overload phase and its drain, MiB. */
  memory: MemoryPeaks;
}

const refusalClass = (err: unknown) =>
  err instanceof RestSubmitRefusal ? `${err.status}/${err.code}` : ((err as Error)?.name ?? 'Error');

const growth = (f: SystemFigures['halfLoad'], o: SystemFigures['overload']) => ({
  p50: round(o.latencyMs.p50 / f.latencyMs.p50, 2),
  p99: round(o.latencyMs.p99 / f.latencyMs.p99, 2),
});

/**
 * Offered load at `factor`× capacity through `POST /v1/jobs`, with admission control: the scheduler bounds the
 * submit stream (CAPSTAN_SUBMIT_BACKLOG_MAX = capacity × backlogDelayMs), the gateway answers a full backlog with 429
 * (code 1015) and its own saturation with 503 (code 1016). Capacity is measured first as e2e-rest does (closed loop,
 * fresh processes); then, on fresh scheduler, gateway and worker processes with the bound, half load (the reference
 * latency) and the overload. Peer: BullMQ, which has no admission control, at `factor`× its own capacity: it queues
 * everything, so its latency and Redis memory grow with the backlog.
 */
export async function overload(opts: OverloadOptions) {
  const servers = await startServers();
  const { nats, redis, pg } = servers;
  const env = { ...servers.env, TOPIC: 'job.bench', CONCURRENCY: String(opts.concurrency) };
  const kernel = await startKernel(servers);
  let capstan: SystemFigures & {
    submitBacklogMax: number;
    maxOpenJobs: number;
    refusedByStatusCode: Record<string, number>;
  };
  try {
    // The Capstan processes of one phase: scheduler (kernel Check, cached), SDK worker, gateway; a REST target.
    const startCapstan = async (schedulerEnv: Record<string, string>, gatewayEnv: Record<string, string>) => {
      const scheduler = await spawnProc('scheduler.ts', { ...env, SAFETY_KERNEL_URL: kernel.url, ...schedulerEnv });
      const worker = await spawnProc('sdk-worker.ts', env);
      const port = await freePort();
      const gateway = await spawnProc('gateway.ts', {
        ...env,
        CAPSTAN_GATEWAY_PORT: String(port),
        ...gatewayEnv,
      });
      const base = `http://127.0.0.1:${port}`;
      apiKey ??= await createApiKey(base);
      await settle();
      const target = await createRestTarget({
        base,
        apiKey,
        topic: 'job.bench',
        input: (i) => ({ i }),
        connections: opts.connections,
      });
      return {
        scheduler,
        worker,
        gateway,
        target,
        async stop() {
          await target.close();
          await stopProc(gateway);
          await stopProc(worker);
          await stopProc(scheduler);
        },
      };
    };
    let apiKey: string | undefined;

    opts.log('capstan: measuring capacity (closed loop, default backlog bound)');
    // Capacity as e2e-rest measures it: no admission bound in the way (default backlog and in-flight bounds).
    const first = await startCapstan({}, {});
    let capacity: number;
    try {
      first.target.usePrefix('');
      await closedLoop(first.target, opts.warmup, opts.window, 0);
      const t = await closedLoop(first.target, opts.capacityJobs, opts.window, opts.warmup);
      capacity = t.jobsPerSec;
      if (t.lost > 0) opts.log(`capstan: ${t.lost} jobs LOST while measuring capacity`);
    } finally {
      await first.stop();
    }
    const submitBacklogMax = Math.max(16, Math.round((capacity * opts.backlogDelayMs) / 1000));
    // Jobs queued or running (CAPSTAN_MAX_OPEN_JOBS), by Little's law: twice the backlog's delay at capacity, so
    // bursts at half load are not refused.
    const maxOpenJobs = Math.max(32, Math.round((capacity * 2 * opts.backlogDelayMs) / 1000));
    opts.log(
      `capstan: capacity ${round(capacity, 0)} jobs/s → CAPSTAN_SUBMIT_BACKLOG_MAX ${submitBacklogMax}, CAPSTAN_MAX_OPEN_JOBS ${maxOpenJobs} (${opts.backlogDelayMs} / ${2 * opts.backlogDelayMs} ms at capacity)`,
    );

    const second = await startCapstan(
      { SUBMIT_BACKLOG_MAX: String(submitBacklogMax), MAX_OPEN_JOBS: String(maxOpenJobs) },
      { CAPSTAN_GATEWAY_JOB_SUBMIT_MAX_IN_FLIGHT: String(opts.gatewayMaxInFlight) },
    );
    try {
      const phases = await runPhases(second.target, 'capstan', capacity, opts, refusalClass, {
        scheduler: { pid: second.scheduler.pid! },
        gateway: { pid: second.gateway.pid! },
        worker: { pid: second.worker.pid! },
        kernel: { pid: kernel.proc.pid! },
        nats: { pid: nats.pid },
        redis: { pid: redis.pid },
        postgresTree: { pid: pg.pid, tree: true },
      });
      capstan = { ...phases, submitBacklogMax, maxOpenJobs, refusedByStatusCode: phases.overload.refused };
    } finally {
      await second.stop();
    }
  } finally {
    await kernel.stop();
  }

  let bullmq: SystemFigures;
  try {
    const peer = await startBullmqPeer(redis.url, opts.concurrency, opts.log);
    const bullTarget = peer.target;
    try {
      bullTarget.usePrefix('b-');
      await closedLoop(bullTarget, opts.warmup, opts.window, 0);
      const t = await closedLoop(bullTarget, opts.capacityJobs, opts.window, opts.warmup);
      opts.log(`bullmq: capacity ${round(t.jobsPerSec, 0)} jobs/s`);
      bullmq = await runPhases(
        bullTarget,
        'bullmq',
        t.jobsPerSec,
        opts,
        (err) => (err as Error)?.name ?? 'Error',
        { worker: { pid: peer.worker.pid! }, redis: { pid: redis.pid } },
        opts.warmup + opts.capacityJobs,
      );
    } finally {
      await peer.stop();
    }
  } finally {
    await servers.stop();
  }

  const sum = (o: Record<string, number>, keys: string[]) =>
    round(
      keys.reduce((a, k) => a + (o[k] ?? 0), 0),
      1,
    );
  const capstanProcesses = ['scheduler', 'gateway', 'worker', 'kernel'];
  const redisGrowthMiB = (m: MemoryPeaks) => round((m.peakMiB['redis'] ?? 0) - (m.startMiB['redis'] ?? 0), 1);
  const ratio = {
    admittedP50UnderOverload: round(capstan.overload.latencyMs.p50 / bullmq.overload.latencyMs.p50, 3),
    admittedP99UnderOverload: round(capstan.overload.latencyMs.p99 / bullmq.overload.latencyMs.p99, 3),
    latencyGrowthP99: round(capstan.latencyGrowth.p99 / bullmq.latencyGrowth.p99, 3),
    redisGrowth: round(redisGrowthMiB(capstan.memory) / Math.max(0.1, redisGrowthMiB(bullmq.memory)), 3),
  };
  opts.log(
    `ratio to BullMQ under ${opts.factor}× load: admitted p99 ${ratio.admittedP99UnderOverload}×, p99 growth over half load ${ratio.latencyGrowthP99}×, Redis growth ${ratio.redisGrowth}×`,
  );
  const allRefusalsTyped = Object.keys(capstan.overload.refused).every((k) => k === '429/1015' || k === '503/1016');
  return {
    scenario: 'overload',
    peer: 'bullmq',
    params: {
      capacityJobs: opts.capacityJobs,
      window: opts.window,
      warmup: opts.warmup,
      halfLoadSeconds: opts.halfLoadSeconds,
      overloadSeconds: opts.overloadSeconds,
      factor: opts.factor,
      backlogDelayMs: opts.backlogDelayMs,
      gatewayMaxInFlight: opts.gatewayMaxInFlight,
      concurrency: opts.concurrency,
      httpConnections: opts.connections,
    },
    capstan: {
      ...capstan,
      peakRssMiB: { ...capstan.memory.peakMiB, capstanTotal: sum(capstan.memory.peakMiB, capstanProcesses) },
    },
    bullmq: { ...bullmq, peakRssMiB: bullmq.memory.peakMiB },
    ratio,
    goals: {
      /** No admitted job lost: every 202 ended SUCCEEDED. */
      noAdmittedJobLost: capstan.overload.lost === 0 && capstan.halfLoad.lost === 0,
      /** The excess was refused, only with the typed codes (429/1015 backlog full, 503/1016 gateway saturated). */
      excessRefusedWithCodes: capstan.overload.refusedTotal > 0 && allRefusalsTyped,
      /** Admitted jobs kept their latency: p99 under overload at most 2× the half-load p99. */
      admittedP99AtMostTwiceHalfLoad: capstan.latencyGrowth.p99 <= 2,
    },
  };
}

/**
 * On a running system of measured `capacity`: warm-up and half load (open loop at capacity / 2), then `factor`×
 * capacity for `overloadSeconds` with the memory of `watch` sampled over it and its drain.
 */
async function runPhases(
  target: ClosableTarget,
  name: string,
  capacity: number,
  opts: OverloadOptions,
  classify: (err: unknown) => string,
  watch: Parameters<typeof watchMemory>[0],
  firstIndex = 0,
): Promise<SystemFigures> {
  let offset = firstIndex;
  const phase = async (rate: number, seconds: number, drainMs = 60_000) => {
    const f = await offeredLoad(target, { rate, seconds, offset, classify, drainMs });
    offset += f.sent;
    return f;
  };
  const half = capacity / 2;
  await phase(half, 1); // warm-up of this system's processes at the reference rate
  const halfLoad = await phase(half, opts.halfLoadSeconds);
  opts.log(
    `${name}: half load ${round(half, 0)}/s: p50 ${halfLoad.latencyMs.p50} ms, p99 ${halfLoad.latencyMs.p99} ms` +
      `${halfLoad.refusedTotal ? `, ${halfLoad.refusedTotal} refused` : ''}${halfLoad.lost ? `, ${halfLoad.lost} LOST` : ''}`,
  );
  const memory = watchMemory(watch);
  // Without admission control every offered job is queued: give the drain the time the backlog needs.
  const overload = await phase(
    capacity * opts.factor,
    opts.overloadSeconds,
    (opts.factor + 1) * opts.overloadSeconds * 1000,
  );
  const mem = memory.stop();
  opts.log(
    `${name}: ${opts.factor}× load: offered ${overload.offeredRate}/s (asked ${overload.targetRate}/s), admitted ${overload.admittedRate}/s, refused ${JSON.stringify(overload.refused)}, admitted p50 ${overload.latencyMs.p50} ms, p99 ${overload.latencyMs.p99} ms, drain ${overload.drainSeconds} s${overload.lost ? `, ${overload.lost} NOT FINISHED` : ''}`,
  );
  opts.log(`${name}: peak RSS MiB ${JSON.stringify(mem.peakMiB)}`);
  return {
    capacityJobsPerSec: round(capacity, 0),
    halfLoad,
    overload,
    latencyGrowth: growth(halfLoad, overload),
    memory: mem,
  };
}
