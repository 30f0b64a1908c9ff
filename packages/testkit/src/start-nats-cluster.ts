import { join } from 'node:path';
import { ServerStartError, TestkitArgumentError } from './errors.js';
import { freePort } from './free-port.js';
import { type SpawnedNatsNode, spawnNatsNode } from './nats-node.js';
import type { NatsHandle } from './server-handle.js';
import { createTempDir } from './temp-dir.js';

/** Options for {@link startNatsCluster}. */
export interface StartNatsClusterOptions {
  /**
   * Number of nodes (JetStream needs at least 3 for R3 streams to survive one node).
   * @default 3
   */
  size?: number;
  /**
   * How long to wait for all nodes to turn healthy and elect a JetStream meta leader.
   * @default 30000
   */
  readyTimeoutMs?: number;
}

/** A running JetStream cluster on loopback. */
export interface NatsCluster {
  /** Client URL of every node, in node order. */
  urls: string[];
  /** The nodes; each can be restarted or stopped on its own. */
  nodes: NatsHandle[];
  /** Stops every node and deletes their data dirs. */
  stop(): Promise<void>;
}

/** Fills defaults and validates {@link StartNatsClusterOptions}. */
export function resolveStartNatsClusterOptions(
  options: StartNatsClusterOptions = {},
): Required<StartNatsClusterOptions> {
  const size = options.size ?? 3;
  if (!Number.isInteger(size) || size < 1 || size > 9) {
    throw new TestkitArgumentError(`startNatsCluster size: invalid value ${size}; expected an integer from 1 to 9`);
  }
  return { size, readyTimeoutMs: options.readyTimeoutMs ?? 30_000 };
}

/**
 * Starts a JetStream cluster of `size` nats-server nodes routed over loopback, each in its own temp dir, and
 * resolves once every node reports healthy (which, for clustered JetStream, means a meta leader is elected).
 */
export async function startNatsCluster(options?: StartNatsClusterOptions): Promise<NatsCluster> {
  const { size, readyTimeoutMs } = resolveStartNatsClusterOptions(options);
  const ports = await Promise.all(
    Array.from({ length: size }, async () => ({
      client: await freePort(),
      monitor: await freePort(),
      cluster: await freePort(),
    })),
  );
  const clusterName = `capstan_test_${ports[0]!.client}`;
  const spawned: SpawnedNatsNode[] = [];
  const stopAll = async () => {
    await Promise.all(spawned.map((node) => node.handle.stop()));
  };
  try {
    for (const [index, port] of ports.entries()) {
      const dataDir = await createTempDir(`nats-n${index}`);
      spawned.push(
        await spawnNatsNode({
          serverName: `${clusterName}_n${index}`,
          port: port.client,
          monitorPort: port.monitor,
          jetstream: true,
          storeDir: join(dataDir, 'jetstream'),
          dataDir,
          extraArgs: [],
          readyTimeoutMs,
          cluster: {
            name: clusterName,
            port: port.cluster,
            routePorts: ports.filter((other) => other !== port).map((other) => other.cluster),
          },
        }),
      );
    }
    await Promise.all(spawned.map((node) => node.waitHealthy()));
    await waitForMetaLeader(
      spawned.map((node) => node.handle),
      readyTimeoutMs,
    );
  } catch (error) {
    await stopAll();
    throw error;
  }
  const nodes = spawned.map((node) => node.handle);
  return { urls: nodes.map((node) => node.url), nodes, stop: stopAll };
}

interface Jsz {
  meta_cluster?: { leader?: string; cluster_size?: number };
}

async function readMeta(node: NatsHandle): Promise<Jsz['meta_cluster']> {
  const response = await fetch(`${node.monitorUrl}/jsz`, { signal: AbortSignal.timeout(2_000) });
  return ((await response.json()) as Jsz).meta_cluster;
}

/**
 * `/healthz` can turn green on a node before every peer agrees on the meta leader; wait until all nodes see
 * the same leader and the full cluster size, so the first stream create does not race the election.
 */
async function waitForMetaLeader(nodes: readonly NatsHandle[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown[] = [];
  while (Date.now() < deadline) {
    try {
      const metas = await Promise.all(nodes.map(readMeta));
      last = metas;
      const leader = metas[0]?.leader;
      if (leader && metas.every((meta) => meta?.leader === leader && meta.cluster_size === nodes.length)) return;
    } catch {
      // A node is not answering yet; retry until the deadline.
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new ServerStartError(
    `NATS cluster did not agree on a JetStream meta leader for ${nodes.length} nodes within ${timeoutMs} ms; ` +
      `last /jsz meta_cluster per node: ${JSON.stringify(last)}`,
  );
}
