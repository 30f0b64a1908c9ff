// A Capstan SDK worker in its own process (for SIGKILL tests): env NATS_URL, REDIS_URL, TOPIC, WORKER_ID.
// Input { sleepMs } makes the handler sleep, with progress.
import { createPointerStore } from '@capstan/pointers';
import { createWorker } from '@capstan/worker';

const pointers = createPointerStore({ redis: process.env['REDIS_URL']! });
const worker = await createWorker({
  servers: process.env['NATS_URL']!,
  pointers,
  topics: [process.env['TOPIC']!],
  workerId: process.env['WORKER_ID']!,
  heartbeatIntervalMs: 500,
  handleSignals: true,
  handler: async (input: { sleepMs?: number } | undefined, ctx) => {
    ctx.progress(10, 'started');
    await new Promise((r) => setTimeout(r, input?.sleepMs ?? 0));
    return { by: process.env['WORKER_ID'], attempt: ctx.attempt };
  },
});
process.send?.({ ready: worker.id });
await worker.closed();
await pointers.close();
