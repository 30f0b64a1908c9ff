/** The peer as a load target: BullMQ `Queue.add` on the same Redis, completions through `QueueEvents`. */
import type { ChildProcess } from 'node:child_process';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import type { ClosableTarget } from './capstan-target.js';
import { spawnProc, stopProc } from './processes.js';

/** Adds job `i` as `{ jobId: <prefix><i>, data: data(i), removeOnComplete }`; done on its `completed` event. */
export async function createBullmqTarget(
  redisUrl: string,
  queueName: string,
  data: (i: number) => unknown,
): Promise<ClosableTarget> {
  const conn = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const eventsConn = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(queueName, { connection: conn });
  const events = new QueueEvents(queueName, { connection: eventsConn });
  await events.waitUntilReady();
  let prefix = 'j-';
  let done: ((i: number) => void) | undefined;
  events.on('completed', ({ jobId }) => {
    if (jobId.startsWith(prefix)) done?.(Number(jobId.slice(prefix.length)));
  });
  return {
    submit: async (i) => {
      await queue.add('noop', data(i), { jobId: `${prefix}${i}`, removeOnComplete: true });
    },
    onDone: (cb) => {
      done = cb;
    },
    usePrefix: (p) => {
      prefix = p;
    },
    close: async () => {
      await events.close();
      await queue.close();
      // Connections passed in are the caller's: closed here so nothing reconnects after Redis stops.
      conn.disconnect();
      eventsConn.disconnect();
    },
  };
}

/** The BullMQ peer of a scenario: its worker process (concurrency as given) and a target on queue `bench`. */
export interface BullmqPeer {
  worker: ChildProcess;
  target: ClosableTarget;
  stop(): Promise<void>;
}

/** Starts the BullMQ worker process on `redisUrl` and a target that adds `{ i }` jobs to its queue. */
export async function startBullmqPeer(
  redisUrl: string,
  concurrency: number,
  log: (line: string) => void,
): Promise<BullmqPeer> {
  log('bullmq: starting worker process');
  const worker = await spawnProc('bullmq-worker.ts', {
    REDIS_URL: redisUrl,
    QUEUE: 'bench',
    CONCURRENCY: String(concurrency),
  });
  const target = await createBullmqTarget(redisUrl, 'bench', (i) => ({ i }));
  return {
    worker,
    target,
    async stop() {
      await target.close();
      await stopProc(worker);
    },
  };
}
