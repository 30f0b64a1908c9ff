import { hostname } from 'node:os';
import { createBus } from '@capstan/bus';
import type { InferConfig } from '@capstan/config';
import { createScheduler, type PolicyPort, type Scheduler, type SchedulerTimings } from '@capstan/scheduler';
import { createDatabase, pingDatabase, type StoreDatabase } from '@capstan/store';
import { type Logger, pino } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createDeadLetterRecorder } from './dead-letter-recorder.js';
import { startMetricsServer } from './metrics-server.js';
import { type LiveRouting, watchRoutingFile } from './routing-file.js';
import type { schedulerConfigSpec } from './scheduler-config.js';

/** Resolved scheduler service config. */
export type SchedulerServiceConfig = InferConfig<typeof schedulerConfigSpec>;

/** A running scheduler service. */
export interface SchedulerService {
  scheduler: Scheduler;
  metricsUrl: string;
  stop(): Promise<void>;
}

/**
 * Starts one scheduler replica: bus, database (already migrated), routing file, metrics server. `store` may be
 * passed in when the caller owns the database (e.g. `capstan dev` with embedded PGlite).
 */
export async function startSchedulerService(
  config: SchedulerServiceConfig,
  deps: { logger?: Logger; store?: StoreDatabase; policy?: PolicyPort; timings?: SchedulerTimings } = {},
): Promise<SchedulerService> {
  const logger = deps.logger ?? pino({ level: config.logLevel, base: { service: 'scheduler' } });
  const id = config.schedulerId || `scheduler-${hostname()}-${process.pid}`;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const store = deps.store ?? (await createDatabase({ url: config.databaseUrl }));
  const ownsStore = !deps.store;
  let routing: LiveRouting | undefined;
  const deadLetters = createDeadLetterRecorder(store.db, logger);
  const bus = await createBus({
    servers: config.natsUrl.split(','),
    senderId: id,
    logger,
    registry,
    deadLetterSink: deadLetters.sink,
  });
  try {
    routing = config.routingFile ? await watchRoutingFile(config.routingFile, logger) : undefined;
    const scheduler = await createScheduler({
      bus,
      db: store.db,
      schedulerId: id,
      logger,
      registry,
      failOpen: config.failOpen,
      ...(deps.policy ? { policy: deps.policy } : {}),
      ...(routing ? { routing: routing.table } : {}),
      timings: { noWorkerWaitMs: config.noWorkerWaitMs, ...deps.timings },
      maxConcurrentFlushes: store.kind === 'pglite' ? 1 : 4,
    });
    const metrics = await startMetricsServer({
      host: config.listenHost,
      port: config.metricsPort,
      registry,
      healthy: async () =>
        !bus.nc.isClosed() &&
        (await pingDatabase(store.db).then(
          () => true,
          () => false,
        )),
    });
    logger.info({ scheduler_id: id, metrics: metrics.url }, 'scheduler service ready');
    return {
      scheduler,
      metricsUrl: metrics.url,
      async stop() {
        await scheduler.stop();
        await deadLetters.drain();
        routing?.close();
        await metrics.close();
        await bus.close();
        if (ownsStore) await store.close();
      },
    };
  } catch (err) {
    routing?.close();
    await bus.close();
    if (ownsStore) await store.close();
    throw err;
  }
}
