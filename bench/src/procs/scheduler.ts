// A scheduler replica in its own process, for benchmarks: env NATS_URL, DATABASE_URL, SCHEDULER_ID.
import { createBus } from '@capstan/bus';
import { createScheduler } from '@capstan/scheduler';
import { createDatabase } from '@capstan/store';

const store = await createDatabase({ url: process.env['DATABASE_URL']!, poolSize: 8 });
const bus = await createBus({
  servers: process.env['NATS_URL']!,
  senderId: process.env['SCHEDULER_ID'] ?? 'bench-scheduler',
});
const scheduler = await createScheduler({
  bus,
  db: store.db,
  maxConcurrentFlushes: Number(process.env['FLUSHES'] ?? 2),
});
process.send?.({ ready: true });
const stop = async () => {
  await scheduler.stop();
  await bus.close();
  await store.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('message', (m) => {
  if ((m as { stop?: boolean }).stop) void stop();
});
