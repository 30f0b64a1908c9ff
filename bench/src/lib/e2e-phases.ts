/** The two phases every end-to-end throughput scenario runs on each system: closed-loop throughput, then latency. */
import { startBullmqPeer } from './bullmq-target.js';
import type { ClosableTarget } from './capstan-target.js';
import { closedLoop, openLoop } from './load.js';
import { cpuSeconds } from './processes.js';
import { round, summarize } from './stats.js';

/** Sizes of the phases. */
export interface E2ePhaseOptions {
  /** Jobs in the throughput phase. */
  jobs: number;
  /** Jobs in flight in the throughput phase. */
  window: number;
  /** Unmeasured jobs first (JIT, connections, caches). */
  warmup: number;
  /** Seconds of the latency phase (open loop at half of the measured throughput, at least 300 jobs). */
  latencySeconds: number;
}

/** CPU-seconds so far of each process involved, by name. */
export type CpuReader = () => Record<string, number>;

/** What the phases measured for one system. */
export interface E2eFigures {
  jobsPerSec: number;
  throughputLatencyMs: ReturnType<typeof summarize>;
  lostInThroughput: number;
  halfLoadRate: number;
  halfLoadLatencyMs: ReturnType<typeof summarize>;
  lostAtHalfLoad: number;
  cpuSecondsPer1000Jobs: number;
  cpuSecondsPer1000JobsByProcess: Record<string, number>;
}

/** Runs warm-up, throughput (CPU counted over it) and latency at half load; phase `p` uses job ids `<p>-<n>-`. */
export async function runE2ePhases(
  target: ClosableTarget,
  name: string,
  opts: E2ePhaseOptions,
  cpu: CpuReader,
  log: (line: string) => void,
): Promise<E2eFigures> {
  const id = name.replace(/[^A-Za-z0-9_-]/g, '-'); // job ids are one NATS subject token
  target.usePrefix(`${id}-w-`);
  await closedLoop(target, opts.warmup, opts.window);
  target.usePrefix(`${id}-t-`);
  const c0 = cpu();
  const t = await closedLoop(target, opts.jobs, opts.window);
  const c1 = cpu();
  const per1000 = (k: string) => round(((c1[k]! - c0[k]!) / opts.jobs) * 1000, 3);
  const byProcess = Object.fromEntries(Object.keys(c0).map((k) => [k, per1000(k)]));
  const total = round(
    Object.values(byProcess).reduce((a, b) => a + b, 0),
    3,
  );
  log(
    `${name}: ${round(t.jobsPerSec, 0)} jobs/s (closed loop, window ${opts.window})${t.lost ? `, ${t.lost} LOST` : ''}`,
  );
  log(`${name}: CPU-s per 1,000 jobs ${total}: ${JSON.stringify(byProcess)}`);
  const rate = t.jobsPerSec / 2;
  target.usePrefix(`${id}-l-`);
  const l = await openLoop(target, Math.max(300, Math.round(rate * opts.latencySeconds)), rate, 0);
  const half = summarize(l.latencies);
  log(`${name}: latency at ${round(rate, 0)} jobs/s: p50 ${half.p50} ms, p99 ${half.p99} ms`);
  return {
    jobsPerSec: round(t.jobsPerSec, 0),
    throughputLatencyMs: summarize(t.latencies),
    lostInThroughput: t.lost,
    halfLoadRate: round(rate, 0),
    halfLoadLatencyMs: half,
    lostAtHalfLoad: l.lost,
    cpuSecondsPer1000Jobs: total,
    cpuSecondsPer1000JobsByProcess: byProcess,
  };
}

/** BullMQ, the end-to-end scenarios' peer, through the same phases: its worker (own process) on `redis`. */
export async function runBullmqPhases(
  redis: { url: string; pid: number },
  concurrency: number,
  opts: E2ePhaseOptions,
  log: (line: string) => void,
): Promise<E2eFigures> {
  const peer = await startBullmqPeer(redis.url, concurrency, log);
  try {
    return await runE2ePhases(
      peer.target,
      'bullmq',
      opts,
      () => ({ worker: cpuSeconds(peer.worker.pid!), client: ownCpuSeconds(), redis: cpuSeconds(redis.pid) }),
      log,
    );
  } finally {
    await peer.stop();
  }
}

/** A system's figures over the peer's (jobs/s, latencies at half load, CPU per job). */
export function ratioTo(c: E2eFigures, peer: E2eFigures) {
  return {
    jobsPerSec: round(c.jobsPerSec / peer.jobsPerSec, 2),
    p50AtHalfLoad: round(c.halfLoadLatencyMs.p50 / peer.halfLoadLatencyMs.p50, 2),
    p99AtHalfLoad: round(c.halfLoadLatencyMs.p99 / peer.halfLoadLatencyMs.p99, 2),
    cpuPerJob: round(c.cpuSecondsPer1000Jobs / peer.cpuSecondsPer1000Jobs, 2),
  };
}

/** The runner's own CPU-seconds (the client side of a benchmark). */
export const ownCpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
