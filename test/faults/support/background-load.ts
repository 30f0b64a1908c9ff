import { TERMINAL_STATES } from './history.js';
import type { HistoryRecorder } from './history-recorder.js';
import type { FaultSubmit, JobSubmitter } from './job-submitter.js';

/** Options of {@link startBackgroundLoad}. */
export interface BackgroundLoadOptions {
  /** Jobs submitted per second. @default 40 */
  ratePerSec?: number;
  /** Submits awaiting their ack at once; a tick that finds this many skips its submits (counted). @default 200 */
  maxInFlight?: number;
  /** Terminal states the load's jobs may end in. @default ['SUCCEEDED'] */
  expect?: readonly string[];
  /** Also run saga workflows one after another (two compensated steps, then a fatal one: a rollback). @default false */
  sagas?: boolean;
}

/** A running background load. */
export interface BackgroundLoad {
  /** Submits made, acknowledged, failed (not acknowledged) and skipped (too many in flight). */
  counts(): { submitted: number; acked: number; failed: number; skipped: number; workflows: number };
  /** Stops submitting and waits for the submits in flight (and the current workflow step). */
  stop(): Promise<void>;
}

/** The steady job mix: mostly quick jobs, some slower ones, a few that fail once and succeed on retry. */
function nextJob(i: number): FaultSubmit {
  if (i % 20 === 7) return { input: { sleepMs: 5, fail: 'retryable-once' } };
  if (i % 10 === 3) return { input: { sleepMs: 200 + ((i * 37) % 400) } };
  return { input: { sleepMs: (i * 13) % 30 } };
}

const TICK_MS = 50;
/** Numbers the loads of a process, so workflow (and so job) ids of consecutive loads on one stack never collide. */
let loadCount = 0;

/**
 * Submits a steady stream of jobs (all expected to SUCCEED) while a fault is injected, so every fault hits jobs at
 * every stage: being accepted, waiting, dispatched, running, reporting, retrying.
 */
export function startBackgroundLoad(
  submitter: JobSubmitter,
  recorder: HistoryRecorder,
  opts: BackgroundLoadOptions = {},
): BackgroundLoad {
  const rate = opts.ratePerSec ?? 40;
  const maxInFlight = opts.maxInFlight ?? 200;
  const counts = { submitted: 0, acked: 0, failed: 0, skipped: 0, workflows: 0 };
  const inFlight = new Set<Promise<unknown>>();
  let stopped = false;
  const stopping = new AbortController();
  const loadNo = ++loadCount;
  let owed = 0;
  const timer = setInterval(() => {
    owed += (rate * TICK_MS) / 1000;
    for (; owed >= 1; owed--) {
      if (inFlight.size >= maxInFlight) {
        counts.skipped++;
        continue;
      }
      const job = nextJob(counts.submitted++);
      const p = submitter.submit(opts.expect ? { ...job, expect: opts.expect } : job).then((r) => {
        if (r.ackedAt !== undefined) counts.acked++;
        else counts.failed++;
      });
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
  }, TICK_MS);

  // A step waits for the previous one; stopping the load ends the wait (a stuck step is the checker's business).
  const terminal = (jobId: string) =>
    recorder
      .waitForEvent(
        `${jobId} terminal`,
        (e) => e.jobId === jobId && e.kind === 'TRANSITION' && TERMINAL_STATES.includes(e.state),
        60_000,
        stopping.signal,
      )
      .catch(() => undefined);
  const sagas = (async () => {
    if (!opts.sagas) return;
    for (let w = 1; !stopped; w++) {
      const workflowId = `${submitter.topic.replaceAll('.', '-')}-wf-${loadNo}-${w}`;
      for (let step = 0; step < 3 && !stopped; step++) {
        const last = step === 2;
        const r = await submitter.submit({
          jobId: `${workflowId}-s${step}`,
          input: last ? { fail: 'fatal' } : { sleepMs: 5 },
          expect: last ? ['FAILED'] : ['SUCCEEDED'],
          workflowId,
          stepIndex: step,
          compensate: !last,
        });
        if (r.ackedAt === undefined) break;
        await terminal(r.jobId);
      }
      counts.workflows++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  return {
    counts: () => ({ ...counts }),
    async stop() {
      stopped = true;
      stopping.abort();
      clearInterval(timer);
      await Promise.all([...inFlight]);
      await sagas;
    },
  };
}
