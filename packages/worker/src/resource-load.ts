import { availableParallelism, totalmem } from 'node:os';

/** Load figures a heartbeat carries, each 0–100. */
export interface ResourceLoad {
  /** CPU used by this process since the previous sample, as a percentage of the machine (all cores). */
  cpuLoad: number;
  /** Resident memory of this process as a percentage of the machine's total memory. */
  memoryLoad: number;
}

/** Samples this process's CPU and memory load; each `sample()` covers the time since the previous one. */
export interface ResourceLoadSampler {
  sample(): ResourceLoad;
}

/**
 * Creates a sampler over `process.cpuUsage()`. CPU time is divided by wall time × cores so a process that keeps
 * every core busy reports 100 (the heartbeat field is 0–100, and the scheduler compares workers on different
 * machines).
 */
export function createResourceLoadSampler(now: () => number = () => performance.now()): ResourceLoadSampler {
  const cores = Math.max(1, availableParallelism());
  let lastCpu = process.cpuUsage();
  let lastAt = now();
  return {
    sample() {
      const at = now();
      const cpu = process.cpuUsage(lastCpu);
      const elapsedMicros = (at - lastAt) * 1000;
      lastCpu = process.cpuUsage();
      lastAt = at;
      const cpuLoad = elapsedMicros > 0 ? ((cpu.user + cpu.system) / (elapsedMicros * cores)) * 100 : 0;
      const memoryLoad = (process.memoryUsage.rss() / totalmem()) * 100;
      return { cpuLoad: clampPercent(cpuLoad), memoryLoad: clampPercent(memoryLoad) };
    },
  };
}

function clampPercent(value: number): number {
  return Math.min(100, Math.max(0, Math.round(value * 100) / 100));
}
