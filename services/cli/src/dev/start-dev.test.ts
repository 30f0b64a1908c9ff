import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBus } from '@capstan/bus';
import { loadConfig } from '@capstan/config';
import { createLogger } from '@capstan/log';
import { createPointerStore } from '@capstan/pointers';
import { redactDatabaseUrl } from '@capstan/store';
import { createTestDatabase, type TestDatabase, testServices } from '@capstan/testkit';
import { createClient } from '@capstan/worker';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { devConfigSpec } from './dev-config.js';
import { DEV_INFO_FILE } from './dev-info.js';
import { DEV_POLICY_FILE } from './dev-policy.js';
import { isProcessAlive } from './previous-run.js';
import { type DevContext, type DevService, devServices } from './services.js';
import { type DevStack, startDev } from './start-dev.js';

const dirs: string[] = [];
const databases: TestDatabase[] = [];
afterAll(async () => {
  vi.unstubAllEnvs();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  await Promise.all(databases.map((database) => database.drop()));
});

/**
 * A fresh PostgreSQL database on the test kit's server: much faster to open than a new PGlite directory, for
 * tests that are not about the embedded database.
 */
async function postgresUrl(): Promise<string> {
  const database = await createTestDatabase(testServices().databaseUrl, 'capstan_cli_dev');
  databases.push(database);
  return database.url;
}

function tempCwd(): string {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-start-dev-'));
  dirs.push(dir);
  return dir;
}

/** Dev config on free ports only, ignoring whatever the test runner's environment says. */
function devConfig(env: Record<string, string> = {}) {
  return loadConfig(devConfigSpec, {
    env: { CAPSTAN_DEV_NATS_PORT: '0', CAPSTAN_DEV_REDIS_PORT: '0', ...env },
    file: null,
  });
}

const loggerFor = (service: string) => createLogger({ service, level: 'silent' });

describe('startDev', { timeout: 90_000 }, () => {
  it('starts NATS, Redis, the migrated database and registered services, and stops them in reverse', async () => {
    const cwd = tempCwd();
    const events: string[] = [];
    let seen: DevContext | undefined;
    const earlier: DevContext['services'][] = [];
    const fake = (name: string): DevService => ({
      name,
      async start(context) {
        seen = context;
        earlier.push(context.services);
        events.push(`start ${name}`);
        const port = await context.port(1);
        return { urls: { http: `http://${context.host}:${port}` }, stop: async () => void events.push(`stop ${name}`) };
      },
    });
    const progress: string[] = [];
    const stack = await startDev({
      cwd,
      config: devConfig(),
      services: [fake('first'), fake('second')],
      progress: (line) => progress.push(line),
      loggerFor,
    });
    const { info } = stack;
    try {
      expect(info.pid).toBe(process.pid);
      expect(info.nats).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
      expect(info.redis).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
      expect(info.database).toBe(`pglite://${join(cwd, '.capstan', 'pglite')}`);
      expect(Object.keys(info.processes)).toEqual(['nats-server', 'redis-server']);
      expect(Object.keys(info.services)).toEqual(['first', 'second']);
      expect(info.services.first!.http).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(JSON.parse(readFileSync(join(cwd, '.capstan', DEV_INFO_FILE), 'utf8'))).toEqual(info);

      expect(seen).toMatchObject({ natsUrl: info.nats, redisUrl: info.redis, dataDir: join(cwd, '.capstan') });
      expect(seen!.database.kind).toBe('pglite');
      // Each service sees the URLs of those started before it.
      expect(earlier).toEqual([{}, { first: info.services.first }]);
      expect(progress.find((line) => line.startsWith('applied migrations: '))).toMatch(/: 0001-bus-dead-letters(, |$)/);
      expect(existsSync(join(cwd, '.capstan', 'nats', 'jetstream'))).toBe(true);
    } finally {
      await stack.stop();
    }
    expect(events).toEqual(['start first', 'start second', 'stop second', 'stop first']);
    for (const pid of Object.values(info.processes)) expect(isProcessAlive(pid)).toBe(false);
    expect(existsSync(join(cwd, '.capstan', DEV_INFO_FILE))).toBe(false);
  });

  it('keeps the data across restarts: the second start finds the database migrated', async () => {
    const cwd = tempCwd();
    const options = { cwd, config: devConfig(), services: [], loggerFor };
    const first = await startDev({ ...options, progress: () => {} });
    await first.stop();
    const progress: string[] = [];
    const second = await startDev({ ...options, progress: (line) => progress.push(line) });
    await second.stop();
    expect(progress).toContain('database is up to date');
  });

  it('stops everything it started when a service fails to start', async () => {
    const cwd = tempCwd();
    const progress: string[] = [];
    const broken: DevService = {
      name: 'broken',
      start: async () => {
        throw new Error('port 4001 is on fire');
      },
    };
    const config = devConfig({ DATABASE_URL: await postgresUrl() });
    await expect(
      startDev({ cwd, config, services: [broken], progress: (line) => progress.push(line), loggerFor }),
    ).rejects.toThrow('port 4001 is on fire');
    const stopLine = progress.find((line) => /^(stopping|killing) nats-server/.test(line));
    const pids = [...(stopLine ?? '').matchAll(/pid (\d+)/g)].map((match) => Number(match[1]));
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(isProcessAlive(pid)).toBe(false);
    expect(existsSync(join(cwd, '.capstan', DEV_INFO_FILE))).toBe(false);
  });

  it('kills the servers on a second, forceful stop even while a service hangs in its graceful stop', async () => {
    const hanging: DevService = {
      name: 'hanging',
      start: async () => ({ urls: {}, stop: () => new Promise<void>(() => {}) }),
    };
    const config = devConfig({ DATABASE_URL: await postgresUrl() });
    const stack = await startDev({ cwd: tempCwd(), config, services: [hanging], progress: () => {}, loggerFor });
    void stack.stop();
    await stack.stop({ kill: true });
    for (const pid of Object.values(stack.info.processes)) expect(isProcessAlive(pid)).toBe(false);
  });

  it('reports a server that dies while running', async () => {
    const stack: DevStack = await startDev({
      cwd: tempCwd(),
      config: devConfig(),
      services: [],
      progress: () => {},
      loggerFor,
    });
    try {
      process.kill(stack.info.processes['redis-server']!, 'SIGKILL');
      const error = await stack.failed;
      expect(error.message).toMatch(/^redis-server \(pid \d+\) exited unexpectedly \(code null, signal SIGKILL\)/);
    } finally {
      await stack.stop();
    }
  });

  it('uses existing NATS and Redis with infra off', async () => {
    const { natsUrl, redisUrl } = testServices();
    const databaseUrl = await postgresUrl();
    const config = devConfig({ CAPSTAN_NATS_URL: natsUrl, CAPSTAN_REDIS_URL: redisUrl, DATABASE_URL: databaseUrl });
    const stack = await startDev({ cwd: tempCwd(), config, infra: false, services: [], progress: () => {}, loggerFor });
    try {
      expect(stack.info).toMatchObject({ nats: natsUrl, redis: redisUrl, processes: {} });
      expect(stack.info.database).toBe(redactDatabaseUrl(databaseUrl));
    } finally {
      await stack.stop();
    }
  });

  it('runs the safety kernel before the scheduler: the echo job passes it, a job.shell.x job ends DENIED', async () => {
    vi.stubEnv('CAPSTAN_GATEWAY_PORT', '0'); // the gateway starts too: on a free port, not 4001
    const config = devConfig({ DATABASE_URL: await postgresUrl() });
    const stack = await startDev({ cwd: tempCwd(), config, services: devServices, progress: () => {}, loggerFor });
    const bus = await createBus({ servers: stack.info.nats, senderId: 'start-dev-test' });
    const pointers = createPointerStore({ redis: stack.info.redis });
    try {
      expect(Object.keys(stack.info.services)).toEqual(['safety-kernel', 'scheduler', 'gateway', 'echo-worker']);
      expect(stack.info.services['safety-kernel']).toEqual({
        url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
        policyFile: DEV_POLICY_FILE,
        metrics: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/),
        health: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/healthz$/),
      });
      const client = createClient({ bus, pointers });
      const echo = await client.submitAndWait({ topic: 'job.echo', input: { hi: 1 } }, { timeoutMs: 30_000 });
      expect(echo.state).toBe('SUCCEEDED');
      expect(echo.output).toMatchObject({ echo: { hi: 1 } });
      const shell = await client.submitAndWait({ topic: 'job.shell.x', input: {} }, { timeoutMs: 30_000 });
      expect(shell.state).toBe('DENIED');
      expect(shell.snapshot.errorMessage).toBe('jobs that run arbitrary shell commands are not allowed');
    } finally {
      await bus.close();
      await pointers.close();
      await stack.stop();
    }
  });
});
