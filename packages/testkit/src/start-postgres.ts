import { execFile, execFileSync } from 'node:child_process';
import { chown, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { assertPort } from './assert-port.js';
import { ServerStartError, TestkitError } from './errors.js';
import { findBinary } from './find-binary.js';
import { freePort } from './free-port.js';
import { spawnManagedProcess } from './managed-process.js';
import type { ServerHandle } from './server-handle.js';
import { createTempDir, removeTempDir } from './temp-dir.js';
import { waitUntilReady } from './wait-until-ready.js';

const execFileAsync = promisify(execFile);

/** Options for {@link startPostgres}. */
export interface StartPostgresOptions {
  /**
   * Port on 127.0.0.1.
   * @default a free port
   */
  port?: number;
  /**
   * `max_connections`; parallel test files each open a pool, so the server default (100) is tight.
   * @default 300
   */
  maxConnections?: number;
  /**
   * How long to wait for `SELECT 1` to succeed after starting.
   * @default 30000
   */
  readyTimeoutMs?: number;
}

interface RunAs {
  uid: number;
  gid: number;
}

/**
 * initdb and postgres refuse to run as root, so as root they run as the `postgres` system user (created by
 * Debian's postgresql package). As any other user they run as that user.
 */
function resolveRunAs(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch (cause) {
    throw new TestkitError(
      'Running as root, PostgreSQL must run as the `postgres` user, which does not exist. ' +
        'Install it with `apt-get install -y postgresql`.',
      { cause },
    );
  }
}

async function probeSelectOne(port: number): Promise<boolean> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: 'postgres',
    database: 'postgres',
    connectionTimeoutMillis: 2_000,
  });
  // Without a listener, a connection reset during startup would surface as an unhandled 'error' event.
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Starts a throw-away PostgreSQL cluster: initdb into a fresh temp dir (trust auth, user `postgres`), then
 * `postgres` listening on 127.0.0.1 only, with its unix socket in the temp dir and fsync off (speed over
 * durability: the data is deleted on stop anyway). Resolves once `SELECT 1` succeeds.
 * URL: `postgres://postgres@127.0.0.1:PORT/postgres`.
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<ServerHandle> {
  assertPort(options.port, 'startPostgres port');
  const initdb = findBinary('initdb', { aptPackage: 'postgresql', postgres: true });
  const postgres = findBinary('postgres', { aptPackage: 'postgresql', postgres: true });
  const runAs = resolveRunAs();
  const port = options.port ?? (await freePort());
  const dataDir = await createTempDir('postgres');
  const pgdata = join(dataDir, 'pgdata');
  const logFile = join(dataDir, 'postgres.log');
  if (runAs) await chown(dataDir, runAs.uid, runAs.gid);

  try {
    await execFileAsync(
      initdb,
      ['-D', pgdata, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
      // cwd must be readable by the postgres user; root's home is not.
      { cwd: dataDir, uid: runAs?.uid, gid: runAs?.gid, env: { ...process.env, LC_ALL: 'C' } },
    );
  } catch (cause) {
    const output = cause as { stdout?: string; stderr?: string };
    const log = `${output.stdout ?? ''}${output.stderr ?? ''}`;
    await writeFile(logFile, log).catch(() => {});
    await removeTempDir(dataDir);
    throw new ServerStartError(`initdb failed for ${pgdata}`, { cause, logFile, logTail: log });
  }

  const proc = await spawnManagedProcess({
    name: 'postgres',
    command: postgres,
    args: [
      '-D',
      pgdata,
      '-p',
      String(port),
      '-h',
      '127.0.0.1',
      '-k',
      dataDir,
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      `max_connections=${options.maxConnections ?? 300}`,
    ],
    logFile,
    cwd: dataDir,
    uid: runAs?.uid,
    gid: runAs?.gid,
    // SIGTERM is "smart shutdown", which waits for every client to disconnect; SIGINT is "fast shutdown".
    stopSignal: 'SIGINT',
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await proc.stop();
    await removeTempDir(dataDir);
  };
  try {
    await waitUntilReady(proc, () => probeSelectOne(port), {
      timeoutMs: options.readyTimeoutMs ?? 30_000,
      what: 'SELECT 1',
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, port, dataDir, pid: proc.pid, stop };
}
