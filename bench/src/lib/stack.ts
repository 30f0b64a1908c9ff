/** The real servers every end-to-end scenario runs on, and the safety kernel with the benchmarks' allow bundle. */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, migrateToLatest } from '@capstan/store';
import { freePort, startNats, startPostgres, startRedis } from '@capstan/testkit';
import { type SpawnOptions, spawnProc, stopProc } from './processes.js';

/** Fresh nats-server (JetStream), redis-server and PostgreSQL (migrated) on loopback, with their pids. */
export interface BenchServers {
  nats: { url: string; pid: number };
  redis: { url: string; pid: number };
  pg: { url: string; pid: number };
  /** NATS_URL, REDIS_URL, DATABASE_URL for the bench processes. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Starts the three servers (Postgres with room for every process's pool) and migrates the database. */
export async function startServers(): Promise<BenchServers> {
  const [nats, redis, pg] = await Promise.all([startNats(), startRedis(), startPostgres({ maxConnections: 100 })]);
  const stop = () => Promise.all([nats.stop(), redis.stop(), pg.stop()]).then(() => undefined);
  try {
    const store = await createDatabase({ url: pg.url });
    await migrateToLatest(store.db);
    await store.close();
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    nats,
    redis,
    pg,
    env: { NATS_URL: nats.url, REDIS_URL: redis.url, DATABASE_URL: pg.url },
    stop,
  };
}

/** What e2e scenarios give the kernel: every `job.` topic allowed (cacheable: no velocity, no job_id in `when:`). */
export const ALLOW_BUNDLE_YAML = [
  'version: bench-allow',
  'default_decision: deny',
  'rules:',
  '  - { id: allow-jobs, match: { topics: ["job.>"] }, decision: allow }',
].join('\n');

/** A safety kernel in its own process with a bundle file; `url` is what CAPSTAN_SAFETY_KERNEL_URL would hold. */
export interface BenchKernel {
  proc: ChildProcess;
  url: string;
  /** Stops the process and removes the bundle's temp dir. */
  stop(): Promise<void>;
}

/** Starts the safety kernel (Redis velocity, decisions recorded in Postgres, PolicyChanged on NATS) with `bundleYaml`. */
export async function startKernel(
  servers: BenchServers,
  bundleYaml = ALLOW_BUNDLE_YAML,
  spawn: SpawnOptions = {},
): Promise<BenchKernel> {
  const dir = await mkdtemp(join(tmpdir(), 'capstan-bench-kernel-'));
  const bundleFile = join(dir, 'bundle.yaml');
  await writeFile(bundleFile, bundleYaml);
  const port = await freePort();
  try {
    const proc = await spawnProc(
      'safety-kernel.ts',
      {
        ...servers.env,
        SAFETY_KERNEL_PORT: String(port),
        CAPSTAN_SAFETY_KERNEL_METRICS_PORT: '0',
        CAPSTAN_LISTEN_HOST: '127.0.0.1',
        CAPSTAN_POLICY_FILE: bundleFile,
        CAPSTAN_LOG_LEVEL: 'warn',
      },
      spawn,
    );
    return {
      proc,
      url: `http://127.0.0.1:${port}`,
      async stop() {
        await stopProc(proc);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * A moment for the worker's handshake and first heartbeat (sent before it reports ready) to reach the scheduler.
 * Jobs submitted earlier would only wait for it; every scenario's warm-up absorbs that anyway.
 */
export const settle = () => new Promise((r) => setTimeout(r, 300));

/** e2e-noop's headline pipeline, for the diagnostics: servers, kernel, scheduler (Check cached) and an SDK worker. */
export interface NoopPipeline {
  servers: BenchServers;
  /** The servers' env plus TOPIC (`job.bench`) and the worker's CONCURRENCY. */
  env: Record<string, string>;
  kernel: BenchKernel;
  scheduler: ChildProcess;
  worker: ChildProcess;
  stop(): Promise<void>;
}

/** Starts {@link NoopPipeline} and waits for the worker to be known to the scheduler. */
export async function startNoopPipeline(): Promise<NoopPipeline> {
  const servers = await startServers();
  const env: Record<string, string> = { ...servers.env, TOPIC: 'job.bench', CONCURRENCY: '50' };
  const kernel = await startKernel(servers);
  const scheduler = await spawnProc('scheduler.ts', {
    ...env,
    SAFETY_KERNEL_URL: kernel.url,
    POLICY_CACHE_TTL_MS: '60000',
    // A diagnostic may try other group-commit settings (FLUSHES=1, FLUSH_AFTER=1 …).
    ...Object.fromEntries(['FLUSHES', 'FLUSH_AFTER'].flatMap((k) => (process.env[k] ? [[k, process.env[k]]] : []))),
  });
  const worker = await spawnProc('sdk-worker.ts', env);
  await settle();
  return {
    servers,
    env,
    kernel,
    scheduler,
    worker,
    async stop() {
      await stopProc(worker);
      await stopProc(scheduler);
      await kernel.stop();
      await servers.stop();
    },
  };
}
