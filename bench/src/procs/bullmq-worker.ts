// The peer: a BullMQ Worker with a no-op processor in its own process (env REDIS_URL, QUEUE, CONCURRENCY).
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { serveRunner } from '../lib/proc-ipc.js';

const connection = new Redis(process.env['REDIS_URL']!, { maxRetriesPerRequest: null });
const worker = new Worker(process.env['QUEUE'] ?? 'bench', async () => null, {
  connection,
  concurrency: Number(process.env['CONCURRENCY'] ?? 50),
});
await worker.waitUntilReady();
process.send?.({ ready: true });
serveRunner(async () => {
  await worker.close();
  connection.disconnect();
});
