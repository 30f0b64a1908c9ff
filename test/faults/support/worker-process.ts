import { type CapstanProcess, spawnCapstanProcess, waitForProcess } from './capstan-process.js';
import type { HistoryRecorder } from './history-recorder.js';
import { effectsFileOf } from './side-effects.js';

/** Options of {@link startWorkerProcess}. */
export interface WorkerProcessOptions {
  /** Worker id (heartbeat `worker_id`) and process name. */
  workerId: string;
  natsUrl: string;
  redisUrl: string;
  topics: readonly string[];
  runDir: string;
  /** Heartbeat period; the scheduler declares the worker gone after 3 missed beats (at least 3 s). @default 500 */
  heartbeatMs?: number;
  /** Jobs at once. @default 20 */
  concurrency?: number;
  /** Connect only once this file exists (see `programs/fault-worker.ts`). @default connect at once */
  waitForFile?: string;
}

/** A Capstan SDK worker (`programs/fault-worker.ts`) in its own process. */
export interface WorkerProcess extends CapstanProcess {
  readonly workerId: string;
  readonly heartbeatMs: number;
}

/**
 * Starts a fault worker and waits for its second heartbeat: from then on every scheduler knows its beat interval,
 * so its liveness window is the real one (3 beats, at least 3 s) and not the 15 s given to workers seen once.
 */
export async function startWorkerProcess(
  opts: WorkerProcessOptions,
  recorder: HistoryRecorder,
): Promise<WorkerProcess> {
  const heartbeatMs = opts.heartbeatMs ?? 500;
  const p = await spawnCapstanProcess({
    name: opts.workerId,
    entry: 'test/faults/programs/fault-worker.ts',
    runDir: opts.runDir,
    env: {
      NATS_URL: opts.natsUrl,
      REDIS_URL: opts.redisUrl,
      TOPICS: opts.topics.join(','),
      WORKER_ID: opts.workerId,
      EFFECTS_FILE: effectsFileOf(opts.runDir, opts.workerId),
      HEARTBEAT_MS: String(heartbeatMs),
      CONCURRENCY: String(opts.concurrency ?? 20),
      ...(opts.waitForFile ? { WAIT_FOR_FILE: opts.waitForFile } : {}),
    },
  });
  try {
    await waitForProcess(
      p,
      'second heartbeat',
      async () => (recorder.heartbeats.get(opts.workerId)?.length ?? 0) >= 2,
      30_000,
    );
  } catch (err) {
    await p.kill();
    throw err;
  }
  return { ...p, workerId: opts.workerId, heartbeatMs };
}
