import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TestkitError } from './errors.js';
import { findBinary } from './find-binary.js';
import { type ManagedProcess, spawnManagedProcess } from './managed-process.js';
import { type NatsNodeConfig, renderNatsConfig } from './nats-config.js';
import type { NatsHandle } from './server-handle.js';
import { removeTempDir } from './temp-dir.js';
import { waitUntilReady } from './wait-until-ready.js';

/** Everything needed to run one nats-server node in its own temp dir. */
export interface NatsNodeSpec extends NatsNodeConfig {
  /** Temp dir owned by this node (config, log, JetStream store); removed on stop. */
  dataDir: string;
  /** Extra command-line arguments (they override the config file). */
  extraArgs: readonly string[];
  /** How long to wait for `/healthz`. */
  readyTimeoutMs: number;
}

/** A spawned node whose readiness is awaited separately (cluster nodes only turn healthy together). */
export interface SpawnedNatsNode {
  /** The handle given to callers. */
  handle: NatsHandle;
  /** Resolves once `/healthz` answers 200 (for JetStream: the store is ready and, clustered, a meta leader is known). */
  waitHealthy(): Promise<void>;
}

async function probeHealthz(monitorUrl: string): Promise<boolean> {
  const response = await fetch(`${monitorUrl}/healthz`, { signal: AbortSignal.timeout(2_000) });
  await response.body?.cancel();
  return response.ok;
}

/** Writes the config and spawns nats-server; does not wait for readiness. */
export async function spawnNatsNode(spec: NatsNodeSpec): Promise<SpawnedNatsNode> {
  const binary = findBinary('nats-server', { aptPackage: 'nats-server' });
  const configFile = join(spec.dataDir, 'nats-server.conf');
  const logFile = join(spec.dataDir, 'nats-server.log');
  const monitorUrl = `http://127.0.0.1:${spec.monitorPort}`;
  await writeFile(configFile, renderNatsConfig(spec));

  const launch = (): Promise<ManagedProcess> =>
    spawnManagedProcess({
      name: `nats-server ${spec.serverName}`,
      command: binary,
      args: ['-c', configFile, ...spec.extraArgs],
      logFile,
      cwd: spec.dataDir,
    });

  let proc = await launch();
  let stopped = false;
  const waitHealthy = () =>
    waitUntilReady(proc, () => probeHealthz(monitorUrl), {
      timeoutMs: spec.readyTimeoutMs,
      what: `${monitorUrl}/healthz`,
    });

  const handle: NatsHandle = {
    url: `nats://127.0.0.1:${spec.port}`,
    port: spec.port,
    dataDir: spec.dataDir,
    monitorUrl,
    serverName: spec.serverName,
    get pid() {
      return proc.pid;
    },
    async restart(opts) {
      if (stopped) throw new TestkitError(`nats-server ${spec.serverName} was stopped; it cannot be restarted`);
      await proc.stop({ kill: opts?.kill ?? false });
      proc = await launch();
      await waitHealthy();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await proc.stop();
      await removeTempDir(spec.dataDir);
    },
  };
  return { handle, waitHealthy };
}
