import { createDatabase, migrateToLatest } from '@capstan/store';
import { createTestDatabase, freePort, testServices } from '@capstan/testkit';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTE_MODULES } from '../src/app/route-modules.js';
import { GatewayStartError } from '../src/errors/gateway-start-error.js';
import { type GatewayServiceConfig, gatewayConfigSpec } from '../src/gateway-config.js';
import type { GatewayRouteModule } from '../src/http/route-module.js';
import { startGatewayService } from '../src/start-gateway-service.js';
import { apiClient, registerOrg } from './api-client.js';
import { startTestGateway, type TestGateway } from './start-test-gateway.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.stop();
});

function config(overrides: Partial<GatewayServiceConfig>): GatewayServiceConfig {
  const base = Object.fromEntries(Object.entries(gatewayConfigSpec).map(([k, f]) => [k, f.default]));
  // Any free metrics port: test files run in parallel.
  return { ...base, metricsPort: 0, ...overrides } as GatewayServiceConfig;
}

describe('startGatewayService', () => {
  it('generates the JWT secret once, in the database, so replicas and restarts accept each other’s tokens', async () => {
    const org = await registerOrg(apiClient(gw.url), 'secret');
    const rows = await gw.store.db.selectFrom('gateway_settings').selectAll().execute();
    expect(rows.map((r) => r.key)).toEqual(['jwt_secret']);
    const replica = await gw.startReplica();
    expect((await apiClient(replica.url)('GET', '/v1/api-keys', { token: org.token })).status).toBe(200);
    await replica.stop();
    await replica.stop();
  });

  it('uses a store it is given without opening or closing another connection', async () => {
    const services = testServices();
    const database = await createTestDatabase(services.databaseUrl, 'gwstore');
    const store = await createDatabase({ url: database.url });
    try {
      await migrateToLatest(store.db);
      const service = await startGatewayService(
        config({
          natsUrl: services.natsUrl,
          redisUrl: services.redisUrl,
          databaseUrl: 'postgres://nobody@127.0.0.1:1/none',
          port: 0,
          logLevel: 'silent',
        }),
        { store, logger: pino({ level: 'silent' }) },
      );
      expect((await fetch(`${service.url}/ready`)).status).toBe(200);
      await service.stop();
      // Still open: the caller owns it.
      expect((await store.db.selectFrom('organizations').select('id').execute()).length).toBe(0);
    } finally {
      await store.close();
      await database.drop();
    }
  });

  it('runs on the embedded PGlite store capstan dev passes in', async () => {
    const services = testServices();
    const store = await createDatabase({ url: 'pglite:memory' });
    try {
      await migrateToLatest(store.db);
      const service = await startGatewayService(
        config({ natsUrl: services.natsUrl, redisUrl: services.redisUrl, port: 0, logLevel: 'silent' }),
        { store, logger: pino({ level: 'silent' }) },
      );
      const api = apiClient(service.url);
      const org = await registerOrg(api, 'pglite');
      const agent = await api('POST', '/v1/agents', {
        token: org.token,
        body: { agent_id: 'lite', capabilities: ['echo'] },
      });
      expect(agent.status).toBe(201);
      expect((await api('GET', '/v1/agents?capability=echo', { key: agent.body.api_key })).body.agents).toHaveLength(1);
      expect((await api('DELETE', `/v1/api-keys/${agent.body.api_key_id}`, { key: agent.body.api_key })).status).toBe(
        204,
      );
      expect((await api('GET', '/v1/agents', { key: agent.body.api_key })).status).toBe(401);
      const logs = await api('GET', '/v1/audit-logs?per_page=5&page=1', { token: org.token });
      expect(logs.body.pagination.total).toBeGreaterThanOrEqual(3);
      const csv = await api('GET', '/v1/audit-logs/export', { token: org.token });
      expect(csv.text.split('\n')[0]).toContain('id,actor_type,actor_id,action');
      await service.stop();
    } finally {
      await store.close();
    }
  });

  it('refuses to start on an unmigrated database or without Redis, naming the fix', async () => {
    const services = testServices();
    const database = await createTestDatabase(services.databaseUrl, 'gwbare');
    try {
      const base = {
        natsUrl: services.natsUrl,
        redisUrl: services.redisUrl,
        databaseUrl: database.url,
        port: 0,
        logLevel: 'silent' as const,
      };
      const logger = pino({ level: 'silent' });
      await expect(startGatewayService(config(base), { logger })).rejects.toThrow(/capstan migrate/);
      const store = await createDatabase({ url: database.url });
      await migrateToLatest(store.db);
      await store.close();
      const deadRedis = `redis://127.0.0.1:${await freePort()}`;
      const error = await startGatewayService(config({ ...base, redisUrl: deadRedis }), { logger }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(GatewayStartError);
      expect((error as Error).message).toContain(`Cannot connect to Redis at ${deadRedis}`);
    } finally {
      await database.drop();
    }
  });

  it('drains in-flight requests on stop and refuses new ones', async () => {
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow: GatewayRouteModule = async (app) => {
      app.get('/test/slow', { config: { access: 'public' } }, async () => {
        entered();
        await released;
        return { done: true };
      });
    };
    const services = testServices();
    const service = await startGatewayService(
      config({
        natsUrl: services.natsUrl,
        redisUrl: services.redisUrl,
        databaseUrl: gw.databaseUrl,
        port: 0,
        logLevel: 'silent',
      }),
      { logger: pino({ level: 'silent' }), routeModules: [...ROUTE_MODULES, slow] },
    );
    const inFlight = fetch(`${service.url}/test/slow`);
    await inHandler;
    const stopped = service.stop();
    await new Promise((r) => setTimeout(r, 50));
    release();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ done: true });
    await stopped;
    await expect(fetch(`${service.url}/health`)).rejects.toThrow();
  });
});

describe('OpenAPI document', () => {
  it('documents every route with its schemas, security and the error shape', async () => {
    const doc = (await (await fetch(`${gw.url}/v1/openapi.json`)).json()) as {
      paths: Record<
        string,
        Record<string, { security?: unknown[]; responses: Record<string, unknown>; requestBody?: unknown }>
      >;
      components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
    };
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([m, op]) => [`${m.toUpperCase()} ${path}`, op] as const),
    );
    expect(operations.map(([name]) => name).sort()).toEqual(
      [
        'GET /health',
        'GET /ready',
        'POST /v1/auth/register',
        'POST /v1/auth/login',
        'POST /v1/auth/refresh',
        'POST /v1/auth/token',
        'GET /v1/api-keys',
        'POST /v1/api-keys',
        'GET /v1/api-keys/{id}',
        'DELETE /v1/api-keys/{id}',
        'POST /v1/agents',
        'GET /v1/agents',
        'GET /v1/agents/query',
        'POST /v1/agents/discover',
        'GET /v1/agents/{id}',
        'DELETE /v1/agents/{id}',
        'GET /v1/agents/{id}/api-keys',
        'POST /v1/agents/{id}/api-keys',
        'DELETE /v1/agents/{id}/api-keys/{key_id}',
        'GET /v1/audit-logs',
        'GET /v1/audit-logs/export',
        'GET /v1/audit-logs/{id}',
        'GET /v1/dlq',
        'GET /v1/dlq/{id}',
        'POST /v1/dlq/{id}/retry',
        'GET /v1/jobs',
        'POST /v1/jobs',
        'GET /v1/jobs/{id}',
        'GET /v1/jobs/{id}/events',
        'GET /v1/jobs/{id}/result',
        'GET /v1/jobs/{id}/stream',
        'POST /v1/jobs/{id}/cancel',
        'GET /v1/workers',
        'GET /v1/users',
        'POST /v1/users',
        'GET /v1/users/{id}',
        'PATCH /v1/users/{id}',
        'DELETE /v1/users/{id}',
      ].sort(),
    );
    const byName = Object.fromEntries(operations);
    expect(byName['GET /health']?.security).toEqual([]);
    expect(byName['DELETE /v1/agents/{id}']?.security).toEqual([{ ApiKeyAuth: [] }, { BearerAuth: [] }]);
    expect(JSON.stringify(byName['DELETE /v1/agents/{id}'])).toContain('role **admin**');
    expect(JSON.stringify(byName['PATCH /v1/users/{id}'])).toContain('role **admin**');
    expect(byName['POST /v1/api-keys']?.requestBody).toBeDefined();
    expect(Object.keys(byName['GET /v1/agents']?.responses ?? {})).toEqual(
      expect.arrayContaining(['200', '4XX', '5XX']),
    );
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(['ErrorResponse', 'Agent', 'MaskedApiKey', 'AuditLog', 'Member']),
    );
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['ApiKeyAuth', 'BearerAuth']);
  });
});
