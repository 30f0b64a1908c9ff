/** Peak resident memory of named processes over a phase: VmRSS sampled every 100 ms, plus each process's VmHWM. */
import { readFileSync } from 'node:fs';
import { rssMiB } from './processes.js';
import { round } from './stats.js';

/** A process to watch: its pid, and whether its descendants count too (PostgreSQL's backends). */
export interface WatchedProcess {
  pid: number;
  tree?: boolean;
}

/** What {@link watchMemory} reports per process, MiB. */
export interface MemoryPeaks {
  /** RSS when watching started. */
  startMiB: Record<string, number>;
  /** Highest sampled RSS during the phase. */
  peakMiB: Record<string, number>;
  /** RSS when watching stopped. */
  endMiB: Record<string, number>;
  /** The kernel's high-water mark of RSS since the process started (VmHWM; single processes only). */
  hwmMiB: Record<string, number>;
}

/** VmHWM of a process, MiB (NaN when it is gone). */
export function hwmMiB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Starts sampling; `stop()` ends it and returns the figures. */
export function watchMemory(processes: Record<string, WatchedProcess>): { stop(): MemoryPeaks } {
  const read = () => Object.fromEntries(Object.entries(processes).map(([k, p]) => [k, rssMiB(p.pid, p.tree ?? false)]));
  const startMiB = read();
  const peak = { ...startMiB };
  const timer = setInterval(() => {
    for (const [k, v] of Object.entries(read())) peak[k] = Math.max(peak[k] ?? 0, v);
  }, 100);
  const r1 = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, round(v, 1)]));
  return {
    stop() {
      clearInterval(timer);
      const endMiB = read();
      for (const [k, v] of Object.entries(endMiB)) peak[k] = Math.max(peak[k] ?? 0, v);
      const hwm = Object.fromEntries(
        Object.entries(processes)
          .filter(([, p]) => !p.tree)
          .map(([k, p]) => [k, hwmMiB(p.pid)]),
      );
      return { startMiB: r1(startMiB), peakMiB: r1(peak), endMiB: r1(endMiB), hwmMiB: r1(hwm) };
    },
  };
}
