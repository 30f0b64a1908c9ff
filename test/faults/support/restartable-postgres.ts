import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type ManagedProcess, spawnManagedProcess } from '@capstan/process';
import { createDatabase, pingDatabase } from '@capstan/store';
import { type ServerHandle, startPostgres } from '@capstan/testkit';
import { trackForExit } from './capstan-process.js';

/** A PostgreSQL cluster the test owns and can restart on the same port and data directory. */
export interface RestartablePostgres {
  /** Admin URL (`postgres://postgres@127.0.0.1:<port>/postgres`). */
  readonly url: string;
  /**
   * Stops the server — fast shutdown (SIGINT: open transactions are rolled back, clients disconnected) or SIGKILL of
   * the postmaster (a crash: crash recovery on the next start) — waits `downMs`, starts it again on the same data
   * and resolves once `SELECT 1` works.
   */
  restart(opts: { kill: boolean; downMs: number }): Promise<void>;
  stop(): Promise<void>;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Debian's versioned server binary (`/usr/lib/postgresql/<major>/bin/postgres`), highest version first. */
function postgresBinary(): string {
  const versions = readdirSync('/usr/lib/postgresql')
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  if (!versions[0])
    throw new Error('no PostgreSQL under /usr/lib/postgresql; install it with apt-get install postgresql');
  return join('/usr/lib/postgresql', versions[0], 'bin', 'postgres');
}

/**
 * A private PostgreSQL (initdb by `@capstan/testkit`'s `startPostgres`), run and restarted by this module with
 * durable commits on the same port and data: the test kit's handle deletes the data on stop, and a restart must
 * keep it.
 */
export async function startRestartablePostgres(): Promise<RestartablePostgres> {
  const first: ServerHandle = await startPostgres({ maxConnections: 100 });
  const pgdata = join(first.dataDir, 'pgdata');
  // As root, postgres runs as the `postgres` user (like the test kit does it).
  const runAs =
    process.getuid?.() === 0
      ? {
          uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
          gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
        }
      : {};
  let pid = first.pid;
  let current: ManagedProcess | undefined;
  const ready = async () => {
    const store = await createDatabase({ url: first.url, poolSize: 1 });
    try {
      for (let i = 0; i < 300; i++) {
        if (
          await pingDatabase(store.db).then(
            () => true,
            () => false,
          )
        )
          return;
        await sleep(50);
      }
      throw new Error(`PostgreSQL on ${first.url} did not come back; see ${join(first.dataDir, 'postgres.log')}`);
    } finally {
      await store.close().catch(() => {});
    }
  };
  const server: RestartablePostgres = {
    url: first.url,
    async restart({ kill, downMs }) {
      process.kill(pid, kill ? 'SIGKILL' : 'SIGINT');
      while (alive(pid)) await sleep(20);
      await sleep(downMs);
      // After a SIGKILL the old backends take a moment to notice and exit; until then a new postmaster refuses to
      // start ("pre-existing shared memory block is still in use"): try again.
      for (let attempt = 1; ; attempt++) {
        const proc = await spawnManagedProcess({
          name: 'postgres',
          command: postgresBinary(),
          args: ['-D', pgdata, '-p', String(first.port), '-h', '127.0.0.1', '-k', first.dataDir]
            // A commit must survive a crash of the server (not of the machine): synchronous_commit on, fsync off.
            .concat(['-c', 'fsync=off', '-c', 'synchronous_commit=on', '-c', 'full_page_writes=off'])
            .concat(['-c', 'max_connections=100']),
          logFile: join(first.dataDir, 'postgres.log'),
          cwd: first.dataDir,
          ...runAs,
          stopSignal: 'SIGINT',
        });
        trackForExit(proc);
        const exitedEarly = await Promise.race([proc.exited.then(() => true), sleep(500).then(() => false)]);
        if (!exitedEarly) {
          current = proc;
          pid = proc.pid;
          break;
        }
        if (attempt >= 20) throw new Error(`PostgreSQL would not restart; see ${join(first.dataDir, 'postgres.log')}`);
      }
      await ready();
    },
    async stop() {
      await current?.stop();
      // The test kit's own process is gone by now; this removes the data directory.
      await first.stop();
    },
  };
  // The test kit starts PostgreSQL with synchronous_commit=off (fast, and fine for tests that never crash it): a
  // SIGKILL would then lose the last ~200 ms of acknowledged commits — a test artefact, not a Capstan fault. Start
  // it again with durable commits before anyone uses it.
  await server.restart({ kill: false, downMs: 0 });
  return server;
}
