// A no-op Capstan SDK worker in its own process, for benchmarks: env NATS_URL, REDIS_URL, TOPIC, CONCURRENCY.
import { createPointerStore } from '@capstan/pointers';
import { createWorker } from '@capstan/worker';

const pointers = createPointerStore({ redis: process.env['REDIS_URL']! });
const worker = await createWorker({
  servers: process.env['NATS_URL']!,
  pointers,
  topics: [process.env['TOPIC'] ?? 'job.bench'],
  concurrency: Number(process.env['CONCURRENCY'] ?? 50),
  heartbeatIntervalMs: 1000,
  handler: () => null,
});
process.send?.({ ready: worker.id });
process.on('message', (m) => {
  if ((m as { stop?: boolean }).stop) void worker.shutdown({ timeoutMs: 2000 }).then(() => process.exit(0));
});
