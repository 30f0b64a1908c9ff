import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, migrateToLatest } from '@capstan/store';
import { createTestDatabase, type TestDatabase, testServices } from '@capstan/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliProcess, cliEnv, runCli, spawnCli, stopCli, waitFor } from './spawn-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'capstan-gateway-cmd-'));
const started: CliProcess[] = [];
let migrated: TestDatabase;
let empty: TestDatabase;

beforeAll(async () => {
  [migrated, empty] = await Promise.all([
    createTestDatabase(testServices().databaseUrl, 'capstan_cli_gateway_cmd'),
    createTestDatabase(testServices().databaseUrl, 'capstan_cli_gateway_cmd_empty'),
  ]);
  const store = await createDatabase({ url: migrated.url });
  await migrateToLatest(store.db);
  await store.close();
}, 60_000);

afterAll(async () => {
  await Promise.all(started.map((cli) => stopCli(cli)));
  await Promise.all([migrated?.drop(), empty?.drop()]);
  rmSync(dir, { recursive: true, force: true });
});

function gatewayEnv(databaseUrl: string, extra: Record<string, string> = {}) {
  const { natsUrl, redisUrl } = testServices();
  return cliEnv({
    CAPSTAN_NATS_URL: natsUrl,
    CAPSTAN_REDIS_URL: redisUrl,
    CAPSTAN_DATABASE_URL: databaseUrl,
    CAPSTAN_LOG_LEVEL: 'warn',
    ...extra,
  });
}

describe('capstan gateway', { timeout: 60_000 }, () => {
  it('serves /health, /ready and the API until SIGINT, then drains and exits 0', async () => {
    const gateway = spawnCli(['gateway'], { cwd: dir, env: gatewayEnv(migrated.url) });
    started.push(gateway);
    const READY = /^gateway serving (http:\/\/127\.0\.0\.1:\d+)\/v1 \(API reference at \1\/docs\)$/m;
    await waitFor(
      () => READY.test(gateway.stderr()) || gateway.child.exitCode !== null,
      30_000,
      () => `no ready line; stderr:\n${gateway.stderr()}`,
    );
    const url = READY.exec(gateway.stderr())![1]!;
    expect((await fetch(`${url}/health`)).status).toBe(200);
    const ready = await fetch(`${url}/ready`);
    expect(await ready.json()).toEqual({
      status: 'ready',
      checks: { database: 'ok', nats: 'ok', redis: 'ok' },
    });
    const anonymous = await fetch(`${url}/v1/jobs`);
    expect(anonymous.status).toBe(401);
    const metricsUrl = /^gateway metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)$/m.exec(gateway.stderr())?.[1];
    expect(metricsUrl).toBeDefined();
    expect(await (await fetch(metricsUrl!)).text()).toContain('capstan_gateway_http_requests_total');

    gateway.child.kill('SIGINT');
    expect(await gateway.exited).toBe(0);
  });

  it('refuses a database without the gateway tables, naming the fix, and exits 1', async () => {
    const result = await runCli(['gateway'], { cwd: dir, env: gatewayEnv(empty.url, { CAPSTAN_GATEWAY_PORT: '0' }) });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^capstan gateway: The database .* lacks the gateway tables .*run `capstan migrate` first$/m,
    );
    expect(result.stderr).not.toMatch(/^\s+at /m); // an expected failure: no stack trace
  });

  it('rejects bad configuration naming the variable', async () => {
    const env = gatewayEnv(migrated.url, { CAPSTAN_GATEWAY_RATE_LIMIT: 'lots' });
    const result = await runCli(['gateway'], { cwd: dir, env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('CAPSTAN_GATEWAY_RATE_LIMIT="lots" is invalid');
  });
});
