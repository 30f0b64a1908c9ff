/** The peer as a load target: BullMQ `Queue.add` on the same Redis, completions through `QueueEvents`. */
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import type { ClosableTarget } from './capstan-target.js';

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
