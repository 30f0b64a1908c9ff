import { join } from 'node:path';
import { assertPort } from './assert-port.js';
import { findBinary } from './find-binary.js';
import { freePort } from './free-port.js';
import { spawnManagedProcess } from './managed-process.js';
import type { ServerHandle } from './server-handle.js';
import { tcpExchange } from './tcp-probe.js';
import { createTempDir, removeTempDir } from './temp-dir.js';
import { waitUntilReady } from './wait-until-ready.js';

/** Options for {@link startRedis}. */
export interface StartRedisOptions {
  /**
   * Port on 127.0.0.1.
   * @default a free port
   */
  port?: number;
  /**
   * Turn on the append-only file (for durability tests). RDB snapshots stay off either way.
   * @default false
   */
  appendonly?: boolean;
  /**
   * How long to wait for `PING` to answer `PONG`.
   * @default 20000
   */
  readyTimeoutMs?: number;
}

/** Starts a redis-server on 127.0.0.1 in a fresh temp dir, without persistence unless asked, and waits for `PONG`. */
export async function startRedis(options: StartRedisOptions = {}): Promise<ServerHandle> {
  assertPort(options.port, 'startRedis port');
  const binary = findBinary('redis-server', { aptPackage: 'redis-server' });
  const port = options.port ?? (await freePort());
  const dataDir = await createTempDir('redis');
  const proc = await spawnManagedProcess({
    name: 'redis-server',
    command: binary,
    args: [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dataDir,
      '--save',
      '',
      '--appendonly',
      options.appendonly ? 'yes' : 'no',
      '--daemonize',
      'no',
      // Empty logfile = stdout, which goes to our log file.
      '--logfile',
      '',
    ],
    logFile: join(dataDir, 'redis-server.log'),
    cwd: dataDir,
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await proc.stop();
    await removeTempDir(dataDir);
  };
  try {
    // A PING during AOF loading answers -LOADING, so only +PONG counts as ready.
    await waitUntilReady(
      proc,
      async () => (await tcpExchange(port, { send: 'PING\r\n', until: (r) => r.includes('\r\n') })).startsWith('+PONG'),
      { timeoutMs: options.readyTimeoutMs ?? 20_000, what: 'PING → PONG' },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `redis://127.0.0.1:${port}`, port, dataDir, pid: proc.pid, stop };
}
