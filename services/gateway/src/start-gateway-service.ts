import { hostname } from 'node:os';
import { type Bus, createBus } from '@capstan/bus';
import { resolveDatabaseUrl } from '@capstan/config';
import { createLogger } from '@capstan/log';
import { createServiceRegistry, startMetricsServer } from '@capstan/metrics';
import {
  createDatabase,
  isDatabaseReachable,
  migrationStatus,
  redactDatabaseUrl,
  type StoreDatabase,
} from '@capstan/store';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createAgentPresence } from './agents/agent-presence.js';
import { type HeartbeatSubscription, subscribeHeartbeats } from './agents/heartbeat-subscription.js';
import { createGatewayApp } from './app/create-gateway-app.js';
import type { GatewayContext } from './app/gateway-context.js';
import { ROUTE_MODULES } from './app/route-modules.js';
import { createAuditLog } from './audit/audit-log.js';
import { shareCredentialChanges } from './auth/credential-changes.js';
import { createCredentialResolver } from './auth/credential-resolver.js';
import { resolveJwtSecret } from './auth/jwt-secret.js';
import { createJwtService } from './auth/jwt-service.js';
import { createKeyUsageTracker, type KeyUsageTracker } from './auth/key-usage-tracker.js';
import { GatewayStartError } from './errors/gateway-start-error.js';
import type { GatewayServiceConfig } from './gateway-config.js';
import type { GatewayRouteModule } from './http/route-module.js';
import { createJobsContext } from './jobs/jobs-context.js';
import { createGatewayMetrics } from './observability/gateway-metrics.js';

/** The migration that creates the gateway's tables; the gateway refuses to start without it. */
export const GATEWAY_MIGRATION = '0004-gateway';

/** How long the first Redis connection may take before start fails. */
const REDIS_CONNECT_TIMEOUT_MS = 5000;

/** Optional collaborators of {@link startGatewayService}. */
export interface GatewayServiceDeps {
  /** @default a JSON logger at `config.logLevel` with `service: gateway` */
  logger?: Logger;
  /**
   * An open, migrated database to use instead of opening `config.databaseUrl` (e.g. `capstan dev`'s embedded
   * PGlite, which allows one connection). The caller keeps ownership: `stop()` does not close it.
   */
  store?: StoreDatabase;
  /** Route modules to serve. @default ROUTE_MODULES (every module of the gateway) */
  routeModules?: readonly GatewayRouteModule[];
}

/** A running gateway. */
export interface GatewayService {
  /** Base URL, e.g. `http://127.0.0.1:4001`. */
  url: string;
  /** Base URL of `/metrics` and `/healthz` (Prometheus), e.g. `http://127.0.0.1:9091`. */
  metricsUrl: string;
  /** The fastify app (for in-process tests: `app.inject`). */
  app: FastifyInstance;
  /** The shared context (database, bus, presence…). */
  context: GatewayContext;
  /** Stops accepting requests, drains in-flight ones, flushes key usage, closes connections. Idempotent. */
  stop(): Promise<void>;
}

async function connectRedis(url: string, logger: Logger): Promise<Redis> {
  // No offline queue: while Redis is down, commands fail at once (the rate limiter then lets requests through)
  // instead of piling up in memory and stalling every request.
  const redis = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${REDIS_CONNECT_TIMEOUT_MS} ms`)),
          REDIS_CONNECT_TIMEOUT_MS,
        );
      }),
    ]);
    return redis;
  } catch (cause) {
    redis.disconnect();
    throw new GatewayStartError(
      `Cannot connect to Redis at ${url.replace(/\/\/[^@/]*@/, '//***@')}: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  } finally {
    clearTimeout(timer);
  }
}

async function assertMigrated(store: StoreDatabase, databaseUrl: string): Promise<void> {
  const status = await migrationStatus(store.db).catch(() => []);
  if (!status.some((m) => m.name === GATEWAY_MIGRATION && m.appliedAt !== undefined)) {
    throw new GatewayStartError(
      `The database ${redactDatabaseUrl(databaseUrl)} lacks the gateway tables (migration ${GATEWAY_MIGRATION}); run \`capstan migrate\` first`,
    );
  }
}

/**
 * Starts one gateway replica: database (migrated), Redis, NATS, heartbeat presence, HTTP server. Replicas share
 * everything through Postgres, Redis and NATS, so any number can run behind a load balancer.
 * @throws {GatewayStartError} when a dependency is unreachable or the database is not migrated.
 */
export async function startGatewayService(
  config: GatewayServiceConfig,
  deps: GatewayServiceDeps = {},
): Promise<GatewayService> {
  const logger = deps.logger ?? createLogger({ service: 'gateway', level: config.logLevel });
  const id = config.gatewayId || `gateway-${hostname()}-${process.pid}`;
  const databaseUrl = resolveDatabaseUrl(config.databaseUrl);
  const store = deps.store ?? (await createDatabase({ url: databaseUrl }));
  const ownsStore = deps.store === undefined;
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => {});
    if (ownsStore) await store.close();
  };
  const registry = createServiceRegistry();
  let redis: Redis | undefined;
  let bus: Bus | undefined;
  let keyUsage: KeyUsageTracker | undefined;
  let heartbeats: HeartbeatSubscription | undefined;
  try {
    await assertMigrated(store, databaseUrl);
    redis = await connectRedis(config.redisUrl, logger);
    cleanups.push(() => redis?.quit());
    bus = await createBus({ servers: config.natsUrl.split(','), senderId: id, logger, registry });
    cleanups.push(() => bus?.close());
    const secret = await resolveJwtSecret(store.db, config.jwtSecret);
    if (secret.source === 'database') {
      logger.info('CAPSTAN_GATEWAY_JWT_SECRET not set: using the JWT secret stored in the database');
    }
    const jwt = createJwtService({ secret: secret.secret, ttlSeconds: config.jwtTtlSeconds });
    keyUsage = createKeyUsageTracker({ db: store.db, logger, flushIntervalMs: config.keyUsageFlushMs });
    cleanups.push(() => keyUsage?.stop());
    const presence = createAgentPresence({ ttlMs: config.presenceTtlMs });
    heartbeats = subscribeHeartbeats(bus, presence, logger);
    cleanups.push(() => heartbeats?.stop());
    const sweep = setInterval(() => presence.sweep(), config.presenceTtlMs);
    sweep.unref();
    cleanups.push(() => clearInterval(sweep));
    const jobs = createJobsContext({ config, redis, bus, logger });
    cleanups.push(() => jobs.close());
    const metrics = createGatewayMetrics(registry, {
      streams: jobs.context.streams,
      jobEvents: jobs.context.jobEvents,
    });
    const credentials = createCredentialResolver({
      db: store.db,
      jwt,
      keyUsage,
      cacheTtlMs: config.credentialCacheMs,
      onLookup: metrics.credentialLookup,
    });
    const credentialChanges = shareCredentialChanges(bus, credentials, logger);
    cleanups.push(() => credentialChanges.stop());

    const context: GatewayContext = {
      config,
      db: store.db,
      storeKind: store.kind,
      bus,
      redis,
      logger,
      jwt,
      credentials,
      credentialChanges,
      keyUsage,
      audit: createAuditLog(store.db, logger, {
        maxConcurrentInserts: store.kind === 'pglite' ? 1 : 2,
        onWriteFailed: metrics.auditWriteFailed,
      }),
      metrics,
      presence,
      ...jobs.context,
    };
    const app = await createGatewayApp(context, deps.routeModules ?? ROUTE_MODULES);
    // Closing the app drains in-flight requests first, then the rest is torn down in reverse order.
    cleanups.push(() => app.close());
    const address = await app.listen({ host: config.listenHost, port: config.port });
    const url = address.replace('[::1]', '127.0.0.1');
    const liveRedis = redis;
    const liveBus = bus;
    const metricsServer = await startMetricsServer({
      host: config.listenHost,
      port: config.metricsPort,
      registry,
      healthy: async () =>
        liveRedis.status === 'ready' && !liveBus.nc.isClosed() && (await isDatabaseReachable(store.db)),
      portSetting: 'CAPSTAN_GATEWAY_METRICS_PORT',
    }).catch((cause: unknown) => {
      throw new GatewayStartError((cause as Error).message, { cause });
    });
    cleanups.push(() => metricsServer.close());
    logger.info({ gateway_id: id, url, docs: `${url}/docs`, metrics: `${metricsServer.url}/metrics` }, 'gateway ready');
    let stopping: Promise<void> | undefined;
    return {
      url,
      metricsUrl: metricsServer.url,
      app,
      context,
      stop() {
        stopping ??= cleanup();
        return stopping;
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
