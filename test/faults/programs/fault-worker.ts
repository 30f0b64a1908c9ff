/**
 * A Capstan SDK worker in its own process, for the fault suite (it is SIGKILLed, SIGSTOPped and restarted).
 *
 * Environment: NATS_URL (comma-separated for a cluster), REDIS_URL, TOPICS (comma-separated), WORKER_ID, EFFECTS_FILE, HEARTBEAT_MS (default 500),
 * CONCURRENCY (default 20), WAIT_FOR_FILE (optional: connect only once this file exists — the suite loads the
 * modules of workers and scheduler in parallel, yet the workers' handshakes must reach a scheduler that listens).
 *
 * Every job appends JSON lines to EFFECTS_FILE — `start` when the handler begins and `effect` when it has done its
 * work — keyed by job id, attempt and lease epoch, so the history checker can see which attempt ran where even when
 * this process dies right after. `appendFileSync` returns once the kernel holds the bytes: a SIGKILL after it cannot
 * lose the line.
 *
 * Job input (`FaultJobInput`): `sleepMs` on the first attempt, `retrySleepMs` on later ones (a job can be slow while
 * a fault hits it and quick when re-run), `fail: 'fatal' | 'retryable-once'`.
 */
import { appendFileSync, existsSync } from 'node:fs';
import { createPointerStore } from '@capstan/pointers';
import { createWorker, JobFailure } from '@capstan/worker';
import type { FaultJobInput, SideEffect } from '../support/side-effects.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`fault-worker: ${name} is not set; expected it from the fault suite`);
  return value;
};

const workerId = env('WORKER_ID');
const effectsFile = env('EFFECTS_FILE');
const record = (effect: SideEffect) => appendFileSync(effectsFile, `${JSON.stringify(effect)}\n`);

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (ms <= 0) return resolve();
    const timer = setTimeout(resolve, ms);
    // A cancelled job stops sleeping; the SDK has already reported it CANCELLED.
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

const waitFor = process.env['WAIT_FOR_FILE'];
while (waitFor && !existsSync(waitFor)) await new Promise((r) => setTimeout(r, 25));

const pointers = createPointerStore({ redis: env('REDIS_URL') });
const worker = await createWorker<FaultJobInput | null>({
  servers: env('NATS_URL').split(','),
  pointers,
  topics: env('TOPICS').split(','),
  workerId,
  heartbeatIntervalMs: Number(process.env['HEARTBEAT_MS'] ?? 500),
  concurrency: Number(process.env['CONCURRENCY'] ?? 20),
  handleSignals: true,
  shutdownTimeoutMs: 2000,
  handler: async (input, ctx) => {
    const base = { jobId: ctx.jobId, attempt: ctx.attempt, epoch: ctx.epoch, workerId };
    record({ ...base, phase: 'start', at: Date.now() });
    const ms = ctx.attempt > 1 && input?.retrySleepMs !== undefined ? input.retrySleepMs : (input?.sleepMs ?? 0);
    await sleep(ms, ctx.signal);
    if (ctx.signal.aborted) return null;
    if (input?.fail === 'fatal') throw JobFailure.fatal('the fault suite asked this job to fail fatally');
    if (input?.fail === 'retryable-once' && ctx.attempt === 1) throw JobFailure.retryable('first attempt fails');
    record({ ...base, phase: 'effect', at: Date.now() });
    return { by: workerId, attempt: ctx.attempt, epoch: ctx.epoch };
  },
});
await worker.closed();
await pointers.close();
