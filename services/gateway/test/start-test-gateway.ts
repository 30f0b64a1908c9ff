import { createDatabase, migrateToLatest, type StoreDatabase } from '@capstan/store';
import { createTestDatabase, testServices } from '@capstan/testkit';
import { pino } from 'pino';
import { type GatewayServiceConfig, gatewayConfigSpec } from '../src/gateway-config.js';
import { type GatewayService, startGatewayService } from '../src/start-gateway-service.js';

/** A gateway on a private, migrated test database, with the shared test NATS and Redis. */
export interface TestGateway {
  service: GatewayService;
  url: string;
  store: StoreDatabase;
  /** URL of the private test database. */
  databaseUrl: string;
  /** Starts another replica on the same database/Redis/NATS. */
  startReplica(overrides?: Partial<GatewayServiceConfig>): Promise<GatewayService>;
  stop(): Promise<void>;
}

/** Defaults of every field of the spec, as a config object. */
function defaults(): GatewayServiceConfig {
  const config: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(gatewayConfigSpec)) config[name] = field.default;
  return config as GatewayServiceConfig;
}

/** Starts a gateway for a test file; `overrides` replace config fields (port 0, silent logs by default). */
export async function startTestGateway(overrides: Partial<GatewayServiceConfig> = {}): Promise<TestGateway> {
  const services = testServices();
  const database = await createTestDatabase(services.databaseUrl, 'gw');
  const store = await createDatabase({ url: database.url });
  await migrateToLatest(store.db);
  const base: GatewayServiceConfig = {
    ...defaults(),
    natsUrl: services.natsUrl,
    redisUrl: services.redisUrl,
    databaseUrl: database.url,
    logLevel: 'silent',
    listenHost: '127.0.0.1',
    port: 0,
    metricsPort: 0,
    // Generous by default so parallel test files sharing 127.0.0.1 never throttle each other.
    rateLimitMax: 100_000,
    rateLimitAnonymousMax: 100_000,
    ...overrides,
  };
  const logger = pino({ level: process.env.GATEWAY_TEST_LOG ?? 'silent' });
  const service = await startGatewayService(base, { logger });
  const replicas: GatewayService[] = [];
  return {
    service,
    url: service.url,
    store,
    databaseUrl: database.url,
    async startReplica(replicaOverrides = {}) {
      const replica = await startGatewayService({ ...base, ...replicaOverrides }, { logger });
      replicas.push(replica);
      return replica;
    },
    async stop() {
      for (const replica of replicas) await replica.stop();
      await service.stop();
      await store.close();
      await database.drop();
    },
  };
}
