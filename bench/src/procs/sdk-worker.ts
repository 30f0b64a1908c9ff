// A no-op Capstan SDK worker in its own process, for benchmarks: env NATS_URL, REDIS_URL, TOPIC, CONCURRENCY.
import { createBus } from '@capstan/bus';
import { createPointerStore } from '@capstan/pointers';
import { createWorker } from '@capstan/worker';
import { serveRunner } from '../lib/proc-ipc.js';
import { stampJobRequests } from '../lib/receive-stamps.js';

const pointers = createPointerStore({ redis: process.env['REDIS_URL']! });
const workerId = `bench-worker-${process.pid}`;
const natsBus = await createBus({ servers: process.env['NATS_URL']!, senderId: workerId });
// Stamps the worker's receive of each dispatched job (dispatch-overhead), before the SDK reads its input.
const { bus, stamps } = stampJobRequests(natsBus);
const worker = await createWorker({
  bus,
  workerId,
  pointers,
  topics: [process.env['TOPIC'] ?? 'job.bench'],
  concurrency: Number(process.env['CONCURRENCY'] ?? 50),
  heartbeatIntervalMs: 1000,
  handler: () => null,
});
process.send?.({ ready: worker.id });
serveRunner(
  async () => {
    await worker.shutdown({ timeoutMs: 2000 });
    await natsBus.close();
    await pointers.close();
  },
  { stamps: () => stamps.take() },
);
