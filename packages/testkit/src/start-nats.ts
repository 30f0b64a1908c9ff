import { join } from 'node:path';
import { assertPort } from './assert-port.js';
import { TestkitArgumentError } from './errors.js';
import { freePort } from './free-port.js';
import { spawnNatsNode } from './nats-node.js';
import type { NatsHandle } from './server-handle.js';
import { createTempDir } from './temp-dir.js';

/** Largest `max_payload` nats-server accepts. */
const MAX_PAYLOAD_LIMIT = 64 * 1024 * 1024;

/** Options for {@link startNats}. */
export interface StartNatsOptions {
  /**
   * Enable JetStream (stored in the temp data dir).
   * @default true
   */
  jetstream?: boolean;
  /**
   * Client port on 127.0.0.1.
   * @default a free port
   */
  port?: number;
  /**
   * Maximum message payload in bytes (1 .. 64 MiB).
   * @default the server default, 1 MiB
   */
  maxPayload?: number;
  /**
   * Extra nats-server command-line arguments; they override the generated config file.
   * @default []
   */
  extraArgs?: string[];
  /**
   * How long to wait for the server to turn healthy.
   * @default 20000
   */
  readyTimeoutMs?: number;
}

/** {@link StartNatsOptions} with defaults filled in and values checked. */
export interface ResolvedStartNatsOptions {
  jetstream: boolean;
  port: number | undefined;
  maxPayload: number | undefined;
  extraArgs: readonly string[];
  readyTimeoutMs: number;
}

/** Fills defaults and validates {@link StartNatsOptions}. */
export function resolveStartNatsOptions(options: StartNatsOptions = {}): ResolvedStartNatsOptions {
  assertPort(options.port, 'startNats port');
  const { maxPayload } = options;
  if (maxPayload !== undefined && (!Number.isInteger(maxPayload) || maxPayload < 1 || maxPayload > MAX_PAYLOAD_LIMIT)) {
    throw new TestkitArgumentError(
      `startNats maxPayload: invalid value ${maxPayload}; expected an integer byte count from 1 to ${MAX_PAYLOAD_LIMIT}`,
    );
  }
  return {
    jetstream: options.jetstream ?? true,
    port: options.port,
    maxPayload,
    extraArgs: options.extraArgs ?? [],
    readyTimeoutMs: options.readyTimeoutMs ?? 20_000,
  };
}

/** Starts one nats-server on 127.0.0.1 (JetStream on by default) in a fresh temp dir and waits until healthy. */
export async function startNats(options?: StartNatsOptions): Promise<NatsHandle> {
  const resolved = resolveStartNatsOptions(options);
  const [port, monitorPort] = await Promise.all([resolved.port ?? freePort(), freePort()]);
  const dataDir = await createTempDir('nats');
  const node = await spawnNatsNode({
    serverName: `capstan_test_${port}`,
    port,
    monitorPort,
    jetstream: resolved.jetstream,
    storeDir: join(dataDir, 'jetstream'),
    maxPayload: resolved.maxPayload,
    dataDir,
    extraArgs: resolved.extraArgs,
    readyTimeoutMs: resolved.readyTimeoutMs,
  });
  try {
    await node.waitHealthy();
  } catch (error) {
    await node.handle.stop();
    throw error;
  }
  return node.handle;
}
