import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type ManagedProcess, spawnManagedProcess } from '@capstan/process';
import { findExecutable } from './find-executable.js';
import { waitForPort } from './wait-for-port.js';

/** Options for {@link startNatsServer}. */
export interface StartNatsServerOptions {
  /** Loopback address to bind. */
  host: string;
  /** Port to listen on (already chosen and free). */
  port: number;
  /** Directory for JetStream storage and the log file (e.g. `.capstan/nats`). */
  dataDir: string;
  /** Aborts the readiness wait. */
  signal?: AbortSignal;
}

/** A running dev nats-server. */
export interface RunningServer {
  /** Client URL, e.g. `nats://127.0.0.1:4222`. */
  url: string;
  /** The process, for stopping and for its pid. */
  process: ManagedProcess;
}

/** Starts nats-server with JetStream on, storing streams under `dataDir/jetstream`. */
export async function startNatsServer(options: StartNatsServerOptions): Promise<RunningServer> {
  const executable = findExecutable('nats-server');
  mkdirSync(options.dataDir, { recursive: true });
  const process = await spawnManagedProcess({
    // Own process group: Ctrl-C reaches only `capstan dev`, which stops its servers in order.
    detached: true,
    name: 'nats-server',
    command: executable,
    args: ['-a', options.host, '-p', String(options.port), '-js', '-sd', options.dataDir, '-n', 'capstan-dev'],
    logFile: join(options.dataDir, 'nats-server.log'),
  });
  try {
    await waitForPort({ host: options.host, port: options.port, process, signal: options.signal });
  } catch (error) {
    await process.stop({ kill: true });
    throw error;
  }
  return { url: `nats://${options.host}:${options.port}`, process };
}
