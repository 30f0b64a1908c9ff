/**
 * The IPC conversation between the bench runner and the processes it forks: `{ stop: true }` ends a process;
 * `{ ask, id }` asks it for a named value (e.g. its receive stamps) and it answers `{ id, value }`.
 */

import { PerformanceObserver } from 'node:perf_hooks';

/** What a bench process can be asked for, by name. */
export type ProcAnswers = Record<string, () => unknown>;

/** Inside a bench process: answers the runner's questions and stops on `{ stop: true }`. Always answers `memory`. */
export function serveRunner(stop: () => Promise<void>, extra: ProcAnswers = {}): void {
  const answers: ProcAnswers = { memory: () => process.memoryUsage(), ...extra };
  process.on('message', (m: { stop?: boolean; ask?: string; id?: number }) => {
    if (m.stop) {
      void stop().then(() => process.exit(0));
      return;
    }
    if (m.ask !== undefined) {
      const answer = answers[m.ask];
      process.send?.({ id: m.id, value: answer ? answer() : undefined, error: answer ? undefined : `no ${m.ask}` });
    }
  });
  process.on('SIGTERM', () => void stop().then(() => process.exit(0)));
  if (process.env['BENCH_STALLS']) logStalls(Number(process.env['BENCH_STALLS']));
  // The runner died (crashed, killed): its IPC channel closed. Leave no orphan behind, and don't wait for a
  // graceful stop whose servers may be gone too.
  process.on('disconnect', () => process.exit(1));
}

/**
 * BENCH_STALLS=<ms>: every bench process prints each GC pause and each event-loop stall (a 5 ms timer late by more
 * than that) longer than <ms>, stamped with the wall clock, so a latency tail can be matched to the process that
 * stalled (see bench/src/diag/load-tail.ts).
 */
export function logStalls(thresholdMs: number): void {
  const who = `${process.argv[1]?.split('/').pop()} ${process.pid}`;
  const say = (what: string, ms: number) =>
    process.stderr.write(`[stall] ${Date.now()} ${who} ${what} ${ms.toFixed(1)} ms\n`);
  new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      if (e.duration > thresholdMs) say(`gc ${(e as { detail?: { kind?: number } }).detail?.kind ?? '?'}`, e.duration);
  }).observe({ entryTypes: ['gc'] });
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (now - last - 5 > thresholdMs) say('loop', now - last - 5);
    last = now;
  }, 5).unref();
}
