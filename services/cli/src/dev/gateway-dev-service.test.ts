import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@capstan/log';
import { createTestDatabase, type TestDatabase, testServices } from '@capstan/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type DevDatabase, openDatabase, runMigrations } from '../database.js';
import { DEMO_CREDENTIALS_FILE, type DemoCredentials } from './demo-credentials-file.js';
import { DEMO_API_KEY_NAME, DEMO_EMAIL } from './demo-tenant.js';
import { gatewayDevService } from './gateway-dev-service.js';
import type { DevContext, RunningDevService } from './services.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
beforeAll(() => {
  // Any free port (never the default), and no anonymous throttling from other test files sharing the test Redis.
  vi.stubEnv('CAPSTAN_GATEWAY_PORT', '0');
  vi.stubEnv('CAPSTAN_GATEWAY_RATE_LIMIT_ANONYMOUS', '100000');
});
afterAll(async () => {
  vi.unstubAllEnvs();
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A migrated private database on the test kit's PostgreSQL (the dev stack's embedded PGlite is slower to open). */
async function migratedDatabase(): Promise<DevDatabase> {
  const database: TestDatabase = await createTestDatabase(testServices().databaseUrl, 'capstan_cli_gateway');
  const store = await openDatabase(database.url);
  cleanups.push(
    () => database.drop(),
    () => store.close(),
  );
  await runMigrations(store);
  return store;
}

function tempDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-gateway-dev-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** What `capstan dev` would hand the gateway, with the warnings it logs collected in `warnings`. */
function devContext(database: DevDatabase, dataDir: string, warnings: string[] = []): DevContext {
  const { natsUrl, redisUrl } = testServices();
  const logger = createLogger({
    service: 'gateway',
    level: 'warn',
    destination: { write: (line: string) => void warnings.push(JSON.parse(line).msg as string) },
  });
  return {
    host: '127.0.0.1',
    natsUrl,
    redisUrl,
    databaseUrl: 'postgres://test',
    database,
    dataDir,
    logLevel: 'warn',
    logger,
    services: {},
    port: async () => 0,
  };
}

/** Starts the gateway dev service, runs `use`, and stops it even when `use` fails. */
async function withGateway<T>(ctx: DevContext, use: (urls: RunningDevService['urls']) => Promise<T>): Promise<T> {
  const service = await gatewayDevService.start(ctx);
  try {
    return await use(service.urls);
  } finally {
    await service.stop();
  }
}

function readCredentials(dataDir: string): DemoCredentials {
  return JSON.parse(readFileSync(join(dataDir, DEMO_CREDENTIALS_FILE), 'utf8')) as DemoCredentials;
}

describe('gatewayDevService', { timeout: 60_000 }, () => {
  it('creates a demo organization, owner and API key on first start, and reuses them on the next', async () => {
    const database = await migratedDatabase();
    const dataDir = tempDataDir();
    const first = await withGateway(devContext(database, dataDir), async (urls) => {
      expect(urls).toEqual({
        url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
        openapi: `${urls.url}/v1/openapi.json`,
        docs: `${urls.url}/docs`,
        metrics: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/),
        health: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/healthz$/),
        demoOrganizationId: expect.stringMatching(/^org_[0-9a-f]{32}$/),
        demoUser: DEMO_EMAIL,
        demoApiKey: expect.stringMatching(/^cacp_live_[A-Za-z0-9_-]{43}$/),
        demoCredentials: join(dataDir, DEMO_CREDENTIALS_FILE),
      });
      const openapi = await fetch(urls.openapi!);
      expect(openapi.status).toBe(200);
      expect(((await openapi.json()) as { openapi: string }).openapi).toMatch(/^3\.1\./);
      expect((await fetch(urls.docs!)).status).toBe(200);

      // The key is an owner key of the demo organization; lists show it masked, under its name.
      const keys = await fetch(`${urls.url}/v1/api-keys`, { headers: { 'x-api-key': urls.demoApiKey! } });
      expect(keys.status).toBe(200);
      const listed = (await keys.json()) as { api_keys: { name: string; role: string; masked_key: string }[] };
      expect(listed.api_keys).toEqual([expect.objectContaining({ name: DEMO_API_KEY_NAME, role: 'owner' })]);
      expect(JSON.stringify(listed)).not.toContain(urls.demoApiKey);

      // The stored password logs the owner in.
      const stored = readCredentials(dataDir);
      expect(stored).toMatchObject({ organizationId: urls.demoOrganizationId, email: DEMO_EMAIL });
      expect(stored.apiKey).toBe(urls.demoApiKey);
      const login = await fetch(`${urls.url}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: stored.email, password: stored.password }),
      });
      expect(login.status).toBe(200);
      expect(((await login.json()) as { organization_id: string }).organization_id).toBe(urls.demoOrganizationId);
      return urls;
    });
    expect(statSync(join(dataDir, DEMO_CREDENTIALS_FILE)).mode & 0o777).toBe(0o600);
    // Only hashes reach the database.
    const row = await database.db.selectFrom('api_keys').select(['key_hash', 'key_prefix']).executeTakeFirstOrThrow();
    expect(row.key_hash).not.toContain(first.demoApiKey);
    expect(first.demoApiKey!.startsWith(row.key_prefix)).toBe(true);
    // Made through the gateway's own API, so its audit log says so (before the test's own login).
    const audit = await database.db
      .selectFrom('audit_logs')
      .select(['action', 'outcome', 'user_agent'])
      .where('organization_id', '=', first.demoOrganizationId!)
      .orderBy('id')
      .execute();
    expect(audit.slice(0, 2)).toEqual([
      { action: 'organization.registered', outcome: 'success', user_agent: 'capstan-dev' },
      { action: 'api_key.created', outcome: 'success', user_agent: 'capstan-dev' },
    ]);

    const warnings: string[] = [];
    const second = await withGateway(devContext(database, dataDir, warnings), async (urls) => urls);
    // Same demo tenant and key; the ports (any free one here) may differ.
    const { url, openapi, docs, metrics, health } = first;
    expect({ ...second, url, openapi, docs, metrics, health }).toEqual(first);
    expect(warnings).toEqual([]);
    const organizations = await database.db.selectFrom('organizations').select('name').execute();
    expect(organizations).toEqual([{ name: 'Capstan demo' }]);
  });

  it('replaces a revoked demo key for the same owner', async () => {
    const database = await migratedDatabase();
    const dataDir = tempDataDir();
    const first = await withGateway(devContext(database, dataDir), async (urls) => {
      const { apiKeyId } = readCredentials(dataDir);
      const revoke = await fetch(`${urls.url}/v1/api-keys/${apiKeyId}`, {
        method: 'DELETE',
        headers: { 'x-api-key': urls.demoApiKey! },
      });
      expect(revoke.status).toBe(204);
      return urls;
    });
    const warnings: string[] = [];
    await withGateway(devContext(database, dataDir, warnings), async (urls) => {
      expect(urls.demoOrganizationId).toBe(first.demoOrganizationId);
      expect(urls.demoUser).toBe(DEMO_EMAIL);
      expect(urls.demoApiKey).not.toBe(first.demoApiKey);
      const jobs = await fetch(`${urls.url}/v1/jobs`, { headers: { 'x-api-key': urls.demoApiKey! } });
      expect(jobs.status).toBe(200);
    });
    expect(warnings).toEqual([expect.stringMatching(/demo API key in .* was rejected .*created a new one/)]);
  });

  it('makes a new demo tenant when the secrets are lost: deleted or broken file, or a new database', async () => {
    const database = await migratedDatabase();
    const dataDir = tempDataDir();
    const file = join(dataDir, DEMO_CREDENTIALS_FILE);
    const original = await withGateway(devContext(database, dataDir), async (urls) => urls);

    // The file is gone but the database still has demo@capstan.local, whose password nobody knows any more.
    rmSync(file);
    const warnings: string[] = [];
    const afterDelete = await withGateway(devContext(database, dataDir, warnings), async (urls) => urls);
    expect(afterDelete.demoOrganizationId).not.toBe(original.demoOrganizationId);
    expect(afterDelete.demoUser).toMatch(/^demo-[0-9a-f]{8}@capstan\.local$/);
    expect(warnings).toEqual([
      `${DEMO_EMAIL} is registered but its password is not in ${file}; creating ${afterDelete.demoUser} instead`,
    ]);

    // A file that is not what capstan dev wrote is ignored, with the reason.
    writeFileSync(file, '{"apiKey": 42');
    warnings.length = 0;
    const afterBreak = await withGateway(devContext(database, dataDir, warnings), async (urls) => urls);
    expect(afterBreak.demoOrganizationId).not.toBe(afterDelete.demoOrganizationId);
    expect(warnings[0]).toMatch(/^ignoring .*demo-credentials\.json \(not JSON: /);

    // A fresh database (the developer deleted .capstan/pglite): the stored email is free again and is reused.
    const stored = readCredentials(dataDir);
    warnings.length = 0;
    await withGateway(devContext(await migratedDatabase(), dataDir, warnings), async (urls) => {
      expect(urls.demoUser).toBe(stored.email);
      expect(urls.demoOrganizationId).not.toBe(stored.organizationId);
      expect(urls.demoApiKey).not.toBe(stored.apiKey);
    });
    expect(warnings).toEqual([expect.stringMatching(/belong to a database that no longer has them/)]);
  });
});
