import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_PORTS, type InferConfig } from '@capstan/config';
import type { CapstanLogger } from '@capstan/log';
import type { ManagedProcess } from '@capstan/process';
import { redactDatabaseUrl } from '@capstan/store';
import { type DevDatabase, openDatabase, runMigrations } from '../database.js';
import type { devConfigSpec } from './dev-config.js';
import { type DevInfo, maskUrlPassword, removeDevInfo, writeDevInfo } from './dev-info.js';
import { choosePort } from './ports.js';
import { cleanUpPreviousRun } from './previous-run.js';
import type { DevService, RunningDevService } from './services.js';
import { startNatsServer } from './start-nats-server.js';
import { startRedisServer } from './start-redis-server.js';
import { waitForPort } from './wait-for-port.js';

/** Configuration of `capstan dev`, as loaded from {@link devConfigSpec}. */
export type DevConfig = InferConfig<typeof devConfigSpec>;

/** Options for {@link startDev}. */
export interface StartDevOptions {
  /** Directory relative paths (the data directory) are resolved against. */
  cwd: string;
  /** Loaded configuration. */
  config: DevConfig;
  /**
   * Start nats-server and redis-server; with false, use the configured NATS and Redis URLs instead.
   * @default true
   */
  infra?: boolean;
  /** Services to start after the infrastructure, in order. */
  services: readonly DevService[];
  /** Receives human-readable progress lines. */
  progress: (line: string) => void;
  /** Creates the logger a service writes with (its `service` field set to the service's name). */
  loggerFor: (service: string) => CapstanLogger;
  /** Aborting it stops a startup in progress (everything started so far is stopped again). */
  signal?: AbortSignal;
}

/** A running dev stack. */
export interface DevStack {
  /** What is running, as printed in the ready line. */
  info: DevInfo;
  /** Settles with an error if a server dev started exits on its own. */
  failed: Promise<Error>;
  /**
   * Stops everything in reverse order: services, database, then the servers (SIGTERM, then SIGKILL after 5 s,
   * or SIGKILL at once with `kill`). Removes `dev.json`. Safe to call twice.
   */
  stop(options?: { kill?: boolean }): Promise<void>;
}

/** Starts NATS, Redis, the database (migrated) and every service; see `capstan dev`. */
export async function startDev(options: StartDevOptions): Promise<DevStack> {
  const { config, progress, signal } = options;
  const dataDir = resolve(options.cwd, config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  await cleanUpPreviousRun(dataDir, progress);

  const processes: ManagedProcess[] = [];
  const running: { name: string; service: RunningDevService }[] = [];
  let database: DevDatabase | undefined;
  let stopping = false;

  const stop = async (stopOptions: { kill?: boolean } = {}): Promise<void> => {
    stopping = true;
    for (const { name, service } of running.splice(0).reverse()) {
      progress(`stopping ${name}`);
      try {
        await service.stop();
      } catch (error) {
        progress(`${name} did not stop cleanly: ${(error as Error).message}`);
      }
    }
    if (database) {
      const open = database;
      database = undefined;
      try {
        await open.close();
      } catch (error) {
        progress(`the database did not close cleanly: ${(error as Error).message}`);
      }
    }
    // Not spliced: a second call with `kill` (second Ctrl-C) must still reach servers a first call is stopping.
    const alive = processes.filter((server) => server.exit === undefined);
    if (alive.length > 0) {
      const how = stopOptions.kill ? 'killing' : 'stopping';
      progress(`${how} ${alive.map((server) => `${server.name} (pid ${server.pid})`).join(', ')}`);
    }
    await Promise.all(processes.map((server) => server.stop(stopOptions)));
    removeDevInfo(dataDir);
  };

  try {
    let natsUrl: string;
    let redisUrl: string;
    if (options.infra ?? true) {
      const natsPort = await choosePort({
        host: config.host,
        configured: config.natsPort,
        preferred: DEFAULT_PORTS.nats,
        variable: 'CAPSTAN_DEV_NATS_PORT',
      });
      progress(`starting nats-server on ${config.host}:${natsPort} (JetStream, data in ${join(dataDir, 'nats')})`);
      const nats = await startNatsServer({ host: config.host, port: natsPort, dataDir: join(dataDir, 'nats'), signal });
      processes.push(nats.process);
      natsUrl = nats.url;

      const redisPort = await choosePort({
        host: config.host,
        configured: config.redisPort,
        preferred: DEFAULT_PORTS.redis,
        variable: 'CAPSTAN_DEV_REDIS_PORT',
      });
      progress(`starting redis-server on ${config.host}:${redisPort} (data in ${join(dataDir, 'redis')})`);
      const redis = await startRedisServer({
        host: config.host,
        port: redisPort,
        dataDir: join(dataDir, 'redis'),
        signal,
      });
      processes.push(redis.process);
      redisUrl = redis.url;
    } else {
      natsUrl = config.natsUrl;
      redisUrl = config.redisUrl;
      progress(`waiting for NATS at ${natsUrl} and Redis at ${maskUrlPassword(redisUrl)}`);
      await Promise.all([waitForUrl(natsUrl.split(',')[0]!.trim(), 4222, signal), waitForUrl(redisUrl, 6379, signal)]);
    }

    const databaseUrl = config.databaseUrl || `pglite://${join(dataDir, 'pglite')}`;
    progress(`opening database ${redactDatabaseUrl(databaseUrl)}`);
    database = await openDatabase(databaseUrl);
    signal?.throwIfAborted();
    const applied = await runMigrations(database);
    progress(applied.length === 0 ? 'database is up to date' : `applied migrations: ${applied.join(', ')}`);

    const services: DevInfo['services'] = {};
    for (const service of options.services) {
      signal?.throwIfAborted();
      progress(`starting ${service.name}`);
      const started = await service.start({
        host: config.host,
        natsUrl,
        redisUrl,
        databaseUrl,
        database,
        dataDir,
        logLevel: config.logLevel,
        logger: options.loggerFor(service.name),
        services: { ...services },
        port: (preferred) => choosePort({ host: config.host, preferred, variable: service.name }),
      });
      running.push({ name: service.name, service: started });
      services[service.name] = started.urls;
    }
    signal?.throwIfAborted();

    const info: DevInfo = {
      pid: process.pid,
      nats: natsUrl,
      redis: maskUrlPassword(redisUrl),
      database: redactDatabaseUrl(databaseUrl),
      services,
      processes: Object.fromEntries(processes.map((p) => [p.name, p.pid])),
      dataDir,
    };
    writeDevInfo(dataDir, info);

    const failed = new Promise<Error>((resolveFailure) => {
      for (const server of processes) {
        void server.exited.then((exit) => {
          if (stopping) return;
          resolveFailure(
            new Error(
              `${server.name} (pid ${server.pid}) exited unexpectedly (code ${exit.code}, signal ${exit.signal}); ` +
                `see ${server.logFile}`,
            ),
          );
        });
      }
    });
    return { info, failed, stop };
  } catch (error) {
    await stop({ kill: true });
    throw error;
  }
}

/** Waits until the host:port of a URL accepts connections (for `--no-infra`, where another process runs them). */
function waitForUrl(url: string, defaultPort: number, signal: AbortSignal | undefined): Promise<void> {
  const parsed = new URL(url);
  return waitForPort({
    // net.connect wants a bare IPv6 address, URL keeps the brackets.
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port ? Number(parsed.port) : defaultPort,
    timeoutMs: 60_000,
    signal,
  });
}
