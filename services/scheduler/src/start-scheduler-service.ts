import { hostname } from 'node:os';
import { createBus, createPacketSecurity } from '@capstan/bus';
import type { InferConfig } from '@capstan/config';
import { createServiceRegistry, startMetricsServer } from '@capstan/metrics';
import { createSafetyKernelPolicy, type SafetyKernelPolicy } from '@capstan/safety-client';
import {
  allowAllPolicy,
  createScheduler,
  loadActivePolicySnapshot,
  type PolicyPort,
  type Scheduler,
  type SchedulerTimings,
} from '@capstan/scheduler';
import { createDatabase, isDatabaseReachable, type StoreDatabase } from '@capstan/store';
import { type Logger, pino } from 'pino';
import { createDeadLetterRecorder } from './dead-letter-recorder.js';
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

/** Slack between the kernel client's own timeout and the scheduler's outer bound, so the client's wins. */
const POLICY_TIMEOUT_SLACK_MS = 1000;

/**
 * Starts one scheduler replica: bus, database (already migrated), routing file, metrics server, and the
 * safety-kernel client built from `safetyKernelUrl` (empty: the allow-all policy, with a warning). `store` may be
 * passed in when the caller owns the database (e.g. `capstan dev` with embedded PGlite); `policy` replaces the
 * kernel client (tests).
 */
export async function startSchedulerService(
  config: SchedulerServiceConfig,
  deps: { logger?: Logger; store?: StoreDatabase; policy?: PolicyPort; timings?: SchedulerTimings } = {},
): Promise<SchedulerService> {
  const logger = deps.logger ?? pino({ level: config.logLevel, base: { service: 'scheduler' } });
  const id = config.schedulerId || `scheduler-${hostname()}-${process.pid}`;
  const registry = createServiceRegistry();
  // Built before connecting: a bad key file fails the start with the variable and file named.
  const security = createPacketSecurity({ ...config.signatures, senderId: id });
  const store = deps.store ?? (await createDatabase({ url: config.databaseUrl }));
  const ownsStore = !deps.store;
  let routing: LiveRouting | undefined;
  let kernel: SafetyKernelPolicy | undefined;
  const deadLetters = createDeadLetterRecorder(store.db, logger);
  const bus = await createBus({
    servers: config.natsUrl.split(','),
    senderId: id,
    logger,
    registry,
    deadLetterSink: deadLetters.sink,
    ...security,
  });
  try {
    routing = config.routingFile ? await watchRoutingFile(config.routingFile, logger) : undefined;
    let policy: PolicyPort = allowAllPolicy;
    if (deps.policy) policy = deps.policy;
    else if (config.safetyKernelUrl) {
      kernel = createSafetyKernelPolicy({
        url: config.safetyKernelUrl,
        protocol: config.safetyKernelProtocol,
        timeoutMs: config.policyTimeoutMs,
        breaker: { failureThreshold: config.policyBreakerFailures, halfOpenAfterMs: config.policyBreakerHalfOpenMs },
        cache: { ttlMs: config.policyCacheTtlMs, maxEntries: config.policyCacheMaxEntries },
        nats: bus.nc,
        loadActiveSnapshot: () => loadActivePolicySnapshot(store.db),
        logger: logger.child({ component: 'safety-client' }),
        registry,
      });
      policy = kernel;
      logger.info(
        { url: config.safetyKernelUrl, protocol: config.safetyKernelProtocol, fail_open: config.failOpen },
        'policy gate: safety kernel',
      );
    } else {
      logger.warn(
        'no safety kernel configured (CAPSTAN_SAFETY_KERNEL_URL is empty): every job is allowed by the allow-all policy; ' +
          'set it to the kernel, e.g. http://127.0.0.1:50051',
      );
    }
    const scheduler = await createScheduler({
      bus,
      db: store.db,
      schedulerId: id,
      logger,
      registry,
      failOpen: config.failOpen,
      policy,
      ...(routing ? { routing: routing.table } : {}),
      timings: {
        noWorkerWaitMs: config.noWorkerWaitMs,
        policyTimeoutMs: config.policyTimeoutMs + POLICY_TIMEOUT_SLACK_MS,
        approvalPollMs: config.approvalPollMs,
        ...deps.timings,
      },
      maxConcurrentFlushes: store.kind === 'pglite' ? 1 : 4,
      // PGlite has no autovacuum: the leader vacuums the job tables itself.
      vacuumJobTables: store.kind === 'pglite',
      streams: { replicas: config.streamReplicas, submitBacklogMax: config.submitBacklogMax },
      ...(config.maxOpenJobs > 0 ? { maxOpenJobs: config.maxOpenJobs } : {}),
    });
    const metrics = await startMetricsServer({
      host: config.listenHost,
      port: config.metricsPort,
      registry,
      healthy: async () => !bus.nc.isClosed() && (await isDatabaseReachable(store.db)),
      portSetting: 'CAPSTAN_SCHEDULER_METRICS_PORT',
    });
    logger.info({ scheduler_id: id, metrics: metrics.url }, 'scheduler service ready');
    return {
      scheduler,
      metricsUrl: metrics.url,
      async stop() {
        await scheduler.stop();
        await kernel?.close();
        await deadLetters.drain();
        routing?.close();
        await metrics.close();
        await bus.close();
        if (ownsStore) await store.close();
      },
    };
  } catch (err) {
    await kernel?.close();
    routing?.close();
    await bus.close();
    if (ownsStore) await store.close();
    throw err;
  }
}
