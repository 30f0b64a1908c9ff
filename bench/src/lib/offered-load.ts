/**
 * Open-loop load that may be refused: submits at a fixed rate whatever happens to earlier submits (as independent
 * clients would), counts what was admitted and what was refused (by HTTP status and error code), and measures the
 * admitted jobs' submit → result latency.
 */
import type { LoadTarget } from './load.js';
import { round, summarize } from './stats.js';

/** What an offered-load phase measured. */
export interface OfferedLoadFigures {
  /** The rate asked for (jobs/s). */
  targetRate: number;
  /** Submits actually sent per second of the phase (below `targetRate` when the client could not keep up). */
  offeredRate: number;
  sent: number;
  admitted: number;
  /** Admitted submits per second of the phase. */
  admittedRate: number;
  /** Refused submits by `"<status>/<code>"` (e.g. `"429/1015"`), or by error name for other failures. */
  refused: Record<string, number>;
  refusedTotal: number;
  /** Admitted jobs that finished (SUCCEEDED seen) before the drain deadline. */
  completed: number;
  /** Admitted jobs that never finished: must be 0. */
  lost: number;
  /** Seconds after the last submit until the last admitted job finished (or the drain deadline). */
  drainSeconds: number;
  /** Submit start → result of admitted jobs, ms. */
  latencyMs: ReturnType<typeof summarize>;
  /** Submit start → answer of the refused ones (how fast a refusal comes back), ms. */
  refusalMs: ReturnType<typeof summarize>;
  /** Most jobs admitted but not finished at any 100 ms sample (the system's queue, seen from the client). */
  peakInSystem: number;
}

/** Options of {@link offeredLoad}. */
export interface OfferedLoadOptions {
  /** Jobs per second to offer. */
  rate: number;
  /** Seconds to offer them for. */
  seconds: number;
  /** Job index of the first submit (indexes must not repeat across phases on one target). */
  offset: number;
  /** How long to wait after the last submit for admitted jobs to finish. @default 60 s */
  drainMs?: number;
  /** Classifies a refused submit, e.g. `"429/1015"`. @default the error's name */
  classify?: (err: unknown) => string;
}

/** Offers `rate` jobs/s for `seconds`, then waits for every admitted job; see {@link OfferedLoadFigures}. */
export async function offeredLoad(target: LoadTarget, o: OfferedLoadOptions): Promise<OfferedLoadFigures> {
  const n = Math.max(1, Math.round(o.rate * o.seconds));
  const started = new Float64Array(n);
  const admittedAt = new Uint8Array(n); // 1 = admitted, 2 = admitted and finished
  const lat: number[] = [];
  const refusalLat: number[] = [];
  const refused: Record<string, number> = {};
  const classify = o.classify ?? ((err: unknown) => (err as Error)?.name ?? 'Error');
  let admitted = 0;
  let completed = 0;
  let lastDone = 0;
  const finishedEarly = new Set<number>();
  target.onDone((i) => {
    const k = i - o.offset;
    if (k < 0 || k >= n) return;
    if (admittedAt[k] === 1) {
      admittedAt[k] = 2;
      lat.push(performance.now() - started[k]!);
      completed++;
      lastDone = performance.now();
    } else if (admittedAt[k] === 0) finishedEarly.add(k); // the result overtook the submit's answer
  });
  let peakInSystem = 0;
  const sampler = setInterval(() => {
    peakInSystem = Math.max(peakInSystem, admitted - completed);
  }, 100);
  const t0 = performance.now();
  let sent = 0;
  for (let k = 0; k < n; k++) {
    const due = t0 + (k * 1000) / o.rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    // Behind schedule the loop would never yield: let responses and completions in every 64 submits.
    else if (k % 64 === 0) await new Promise((r) => setImmediate(r));
    started[k] = performance.now();
    sent++;
    target.submit(o.offset + k).then(
      () => {
        admitted++;
        admittedAt[k] = 1;
        if (finishedEarly.delete(k)) {
          admittedAt[k] = 2;
          lat.push(performance.now() - started[k]!);
          completed++;
          lastDone = performance.now();
        }
      },
      (err: unknown) => {
        refusalLat.push(performance.now() - started[k]!);
        const key = classify(err);
        refused[key] = (refused[key] ?? 0) + 1;
      },
    );
  }
  const offeredEnd = performance.now();
  const phaseSeconds = (offeredEnd - t0) / 1000;
  // Every submit answered, then every admitted job finished (or the deadline).
  const deadline = offeredEnd + (o.drainMs ?? 60_000);
  const refusedTotal = () => Object.values(refused).reduce((a, b) => a + b, 0);
  while ((admitted + refusedTotal() < sent || completed < admitted) && performance.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  clearInterval(sampler);
  peakInSystem = Math.max(peakInSystem, admitted - completed);
  return {
    targetRate: round(o.rate, 0),
    offeredRate: round(sent / phaseSeconds, 0),
    sent,
    admitted,
    admittedRate: round(admitted / phaseSeconds, 0),
    refused,
    refusedTotal: refusedTotal(),
    completed,
    lost: admitted - completed,
    drainSeconds: round(Math.max(0, (completed === admitted ? lastDone : performance.now()) - offeredEnd) / 1000, 2),
    latencyMs: summarize(lat),
    refusalMs: summarize(refusalLat),
    peakInSystem,
  };
}
