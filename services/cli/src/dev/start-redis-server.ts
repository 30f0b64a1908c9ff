import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnManagedProcess } from '@capstan/process';
import { findExecutable } from './find-executable.js';
import type { RunningServer } from './start-nats-server.js';
import { waitForPort } from './wait-for-port.js';

/** Options for {@link startRedisServer}. */
export interface StartRedisServerOptions {
  /** Loopback address to bind. */
  host: string;
  /** Port to listen on (already chosen and free). */
  port: number;
  /** Directory for the append-only file and the log (e.g. `.capstan/redis`). */
  dataDir: string;
  /** Aborts the readiness wait. */
  signal?: AbortSignal;
}

/**
 * Starts redis-server in the foreground with an append-only file under `dataDir`, so payloads survive a restart
 * of `capstan dev` like the PGlite database does.
 */
export async function startRedisServer(options: StartRedisServerOptions): Promise<RunningServer> {
  const executable = findExecutable('redis-server');
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const process = await spawnManagedProcess({
    // Own process group: Ctrl-C reaches only `capstan dev`, which stops its servers in order.
    detached: true,
    name: 'redis-server',
    command: executable,
    args: [
      '--bind',
      options.host,
      '--port',
      String(options.port),
      '--dir',
      dataDir,
      '--appendonly',
      'yes',
      '--save',
      '',
      '--daemonize',
      'no',
      '--protected-mode',
      'yes',
    ],
    logFile: join(dataDir, 'redis-server.log'),
  });
  try {
    await waitForPort({ host: options.host, port: options.port, process, signal: options.signal });
  } catch (error) {
    await process.stop({ kill: true });
    throw error;
  }
  return { url: `redis://${options.host}:${options.port}`, process };
}
