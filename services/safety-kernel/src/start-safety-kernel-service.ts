import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import type { InferConfig } from '@capstan/config';
import { PolicyAdmin, PolicyChangedSchema } from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import { SafetyKernel } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { Health } from '@capstan/gen/grpc/health/v1/health_pb';
import { createServiceRegistry, startMetricsServer } from '@capstan/metrics';
import { createRedisVelocityCounter, PolicyBundleError } from '@capstan/policy';
import { CapstanSubjects } from '@capstan/protocol';
import { createDatabase, isDatabaseReachable, type StoreDatabase } from '@capstan/store';
import { createContextValues } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { type Logger, pino } from 'pino';
import { createApprovalStore } from './approval-store.js';
import { BUILTIN_BUNDLE_FILE, BUILTIN_DENY_ALL_BUNDLE } from './builtin-bundle.js';
import { createDecisionRecorder } from './decision-recorder.js';
import { createErrorInterceptor, toRpcError, undecodableRequestError } from './error-interceptor.js';
import { PolicyFileError, SafetyKernelError } from './errors.js';
import { fastUnary, withGrpcUnaryFastPath } from './grpc-unary-fast-path.js';
import { createHealthService, createHealthStatus, ServingStatus } from './health-service.js';
import type { KernelContext } from './kernel-context.js';
import { createKernelMetrics } from './kernel-metrics.js';
import { ACTIVATION_RESYNC_MS, BUILTIN_SOURCE, MAX_REQUEST_BYTES } from './limits.js';
import { guardMalformedRequests } from './malformed-request-guard.js';
import { startMultiProtocolServer } from './multi-protocol-server.js';
import { createPolicyAdminService } from './policy-admin-service.js';
import { type PolicyFileWatcher, readPolicyFile, watchPolicyFile } from './policy-file-watcher.js';
import { formatIssues } from './rpc-errors.js';
import type { safetyKernelConfigSpec } from './safety-kernel-config.js';
import { createSafetyKernelService } from './safety-kernel-service.js';
import { createSnapshotRegistry } from './snapshot-registry.js';
import { createSnapshotStore } from './snapshot-store.js';

/** Resolved safety-kernel service config. */
export type SafetyKernelServiceConfig = InferConfig<typeof safetyKernelConfigSpec>;

/** What the caller may hand in instead of letting the service create it. */
export interface SafetyKernelServiceDeps {
  /** @default a pino logger at `config.logLevel` */
  logger?: Logger;
  /**
   * An open, migrated database the caller owns (e.g. `capstan dev`'s embedded PGlite, which allows one
   * connection); the service then never opens one of its own and does not close it.
   * @default a connection to `config.databaseUrl`
   */
  store?: StoreDatabase;
}

/** A running safety kernel. */
export interface SafetyKernelService {
  /** `http://host:port`: Connect, gRPC and gRPC-Web, HTTP/1.1 and h2c. */
  url: string;
  /** `http://host:port` serving `/metrics` (Prometheus) and `/healthz`. */
  metricsUrl: string;
  /** The snapshot id this replica answers with. */
  activeSnapshot(): string;
  /** Reports NOT_SERVING, finishes in-flight RPCs, writes queued decisions and closes every connection. */
  stop(): Promise<void>;
}

/**
 * Starts one safety-kernel replica: database (already migrated — run `capstan migrate` first), NATS, Redis, the
 * active policy snapshot (newest activation in the database, else CAPSTAN_POLICY_FILE, else the built-in
 * deny-all bundle), the policy file watch, and one port serving SafetyKernel, PolicyAdmin and grpc.health.v1.
 * @throws {PolicyFileError} when the policy file cannot be read or is not a valid bundle.
 */
export async function startSafetyKernelService(
  config: SafetyKernelServiceConfig,
  deps: SafetyKernelServiceDeps = {},
): Promise<SafetyKernelService> {
  const logger = deps.logger ?? pino({ level: config.logLevel, base: { service: 'safety-kernel' } });
  const kernelId = `safety-kernel-${hostname()}-${process.pid}`;
  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        logger.warn({ err }, 'safety kernel cleanup step failed');
      }
    }
    cleanups.length = 0;
  };

  try {
    const store = deps.store ?? (await createDatabase({ url: config.databaseUrl }));
    if (!deps.store) cleanups.push(() => store.close());

    const nc = await connect({ servers: config.natsUrl.split(','), name: kernelId });
    cleanups.push(() => nc.close());

    const redis = new Redis(config.redisUrl, {
      lazyConnect: true,
      // Fail a Check within about a second when Redis is down instead of queueing it behind reconnects.
      maxRetriesPerRequest: 1,
      commandTimeout: 1000,
    });
    let lastRedisLog = 0;
    redis.on('error', (err) => {
      if (Date.now() - lastRedisLog < 10_000) return;
      lastRedisLog = Date.now();
      logger.warn({ err: err.message }, 'Redis (velocity counters) unavailable; velocity rules answer UNAVAILABLE');
    });
    cleanups.push(() => redis.disconnect());

    const snapshots = createSnapshotStore(store.db);
    const decisions = createDecisionRecorder({ db: store.db, logger });
    cleanups.push(() => decisions.close());
    const approvals = createApprovalStore(store.db);
    const metrics = createKernelMetrics(createServiceRegistry(), {
      activeSnapshot: () => registry.active().snapshotId,
      decisions: () => decisions.stats(),
      openApprovals: () => approvals.countOpen(new Date()),
    });
    const registry = createSnapshotRegistry({
      store: snapshots,
      logger,
      keep: config.keepSnapshots,
      publish: (changed) => nc.publish(CapstanSubjects.policyChanged, toBinary(PolicyChangedSchema, changed)),
      onSwitch: () => metrics.snapshotSwitched(),
    });

    // Subscribe before choosing the snapshot, so an activation by another replica meanwhile is not missed.
    const changes = nc.subscribe(CapstanSubjects.policyChanged, {
      callback: (err, msg) => {
        if (err) return;
        let actor = 'unknown';
        try {
          actor = fromBinary(PolicyChangedSchema, msg.data).actor || actor;
        } catch (decodeErr) {
          logger.warn({ err: decodeErr }, 'undecodable PolicyChanged message; re-reading the newest activation anyway');
        }
        // The database is the truth (messages from several replicas may arrive out of order): switch to its newest.
        void registry.sync(`announced activation by ${actor}`);
      },
    });
    cleanups.push(() => changes.unsubscribe());
    // Announcements sent while disconnected are lost: catch up with the database after every reconnect.
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') logger.warn({ server: status.server }, 'NATS disconnected');
        if (status.type === 'reconnect') {
          logger.info({ server: status.server }, 'NATS reconnected; re-reading the newest policy activation');
          void registry.sync('NATS reconnected');
        }
      }
    })();

    const file = config.policyFile ? await readPolicyFile(config.policyFile) : undefined;
    if (file) {
      try {
        registry.compile(file.yaml, config.policyFile);
      } catch (err) {
        if (!(err instanceof PolicyBundleError)) throw err;
        throw new PolicyFileError(
          `invalid policy file ${config.policyFile} (CAPSTAN_POLICY_FILE):\n${formatIssues(err.issues)}`,
          { cause: err },
        );
      }
    }
    const fileCause = { actor: kernelId, source: 'file', reason: `policy file ${config.policyFile}` };
    await registry.initialize(
      file ? { yaml: file.yaml, path: config.policyFile, modifiedAt: file.modifiedAt } : undefined,
      {
        yaml: BUILTIN_DENY_ALL_BUNDLE,
        origin: { file: BUILTIN_BUNDLE_FILE, source: BUILTIN_SOURCE, createdBy: kernelId },
        cause: { actor: kernelId, source: 'startup', reason: 'no policy file and nothing activated' },
      },
      fileCause,
    );

    let watcher: PolicyFileWatcher | undefined;
    if (file) {
      watcher = watchPolicyFile(config.policyFile, {
        initialYaml: file.yaml,
        logger,
        onChange: async (yaml) => {
          try {
            const { snapshot } = await registry.store(yaml, {
              file: config.policyFile,
              source: `file:${config.policyFile}`,
              createdBy: kernelId,
            });
            await registry.activate(snapshot.snapshotId, fileCause);
          } catch (err) {
            if (!(err instanceof PolicyBundleError)) throw err;
            metrics.bundleRejected('file');
            logger.error(
              { file: config.policyFile, issues: err.issues, active: registry.active().snapshotId },
              `policy file change rejected; snapshot ${registry.active().snapshotId} stays active:\n${formatIssues(err.issues)}`,
            );
          }
        },
      });
      cleanups.push(() => watcher?.close());
    }
    const resync = setInterval(
      () => void registry.sync('periodic re-read of the newest activation'),
      ACTIVATION_RESYNC_MS,
    );
    resync.unref();
    cleanups.push(() => clearInterval(resync));

    const ctx: KernelContext = {
      db: store.db,
      nc,
      logger,
      registry,
      snapshots,
      approvals,
      decisions,
      metrics,
      velocity: createRedisVelocityCounter({ redis }),
      keepSnapshots: config.keepSnapshots,
      approvalTtlMs: config.approvalTtlMs,
      now: Date.now,
    };
    const health = createHealthStatus(['', SafetyKernel.typeName, PolicyAdmin.typeName]);
    const shutdown = new AbortController();
    const kernel = createSafetyKernelService(ctx);
    const connectHandler = connectNodeAdapter({
      routes: (router) => {
        router.service(SafetyKernel, kernel);
        router.service(PolicyAdmin, createPolicyAdminService(ctx));
        router.service(Health, createHealthService(health));
        guardMalformedRequests(router, MAX_REQUEST_BYTES);
      },
      contextValues: () => createContextValues(),
      shutdownSignal: shutdown.signal,
      readMaxBytes: MAX_REQUEST_BYTES,
      // A misspelt JSON field is an error naming the field, not a silently ignored value.
      jsonOptions: { ignoreUnknownFields: false },
      interceptors: [createErrorInterceptor(logger, metrics.rpcFailed)],
    });
    // The hot path: binary gRPC Check and Evaluate answered on node:http2 directly; everything else via Connect.
    const handler = withGrpcUnaryFastPath(connectHandler, {
      methods: [
        fastUnary(SafetyKernel.method.check, kernel.check),
        fastUnary(SafetyKernel.method.evaluate, kernel.evaluate),
      ],
      maxRequestBytes: MAX_REQUEST_BYTES,
      toError: (err, rpc) => toRpcError(err, rpc, logger),
      undecodable: undecodableRequestError,
      onError: (rpc, err) => metrics.rpcFailed(rpc, err.code),
    });
    const server = await startMultiProtocolServer({
      host: config.listenHost,
      port: config.port,
      handler,
      logger,
    });
    cleanups.push(() => server.close());
    cleanups.push(() => shutdown.abort());
    const metricsServer = await startMetricsServer({
      host: config.listenHost,
      port: config.metricsPort,
      registry: metrics.registry,
      // Redis only backs velocity rules (those answer UNAVAILABLE without it); the database and NATS back every RPC.
      healthy: async () => !nc.isClosed() && (await isDatabaseReachable(store.db)),
      portSetting: 'CAPSTAN_SAFETY_KERNEL_METRICS_PORT',
    }).catch((cause: unknown) => {
      throw new SafetyKernelError((cause as Error).message, { cause });
    });
    cleanups.push(() => metricsServer.close());
    health.setAll(ServingStatus.SERVING);
    logger.info(
      {
        url: server.url,
        metrics: `${metricsServer.url}/metrics`,
        snapshot: registry.active().snapshotId,
        policy_file: config.policyFile || undefined,
      },
      'safety kernel ready',
    );

    let stopping: Promise<void> | undefined;
    return {
      url: server.url,
      metricsUrl: metricsServer.url,
      activeSnapshot: () => registry.active().snapshotId,
      stop() {
        stopping ??= (async () => {
          health.setAll(ServingStatus.NOT_SERVING);
          // Let Watch streams deliver NOT_SERVING before the shutdown signal ends them.
          await delay(50);
          await cleanup();
          logger.info('safety kernel stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
