import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ManagedProcess, spawnManagedProcess } from '@capstan/process';
import { freePort } from '@capstan/testkit';
import { trackForExit } from './capstan-process.js';

/** A redis-server the test owns and can restart on the same port and data. */
export interface RestartableRedis {
  readonly url: string;
  /** Stops it (SHUTDOWN on SIGTERM, or SIGKILL), waits `downMs`, starts it again; resolves once it answers PONG. */
  restart(opts: { kill: boolean; downMs: number }): Promise<void>;
  stop(): Promise<void>;
}

const pong = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      text += chunk.toString('utf8');
      if (text.includes('\r\n')) done(text.startsWith('+PONG'));
    });
  });

/**
 * Starts redis-server on a free loopback port with the append-only file on and fsynced on every write: a restart
 * — even a SIGKILL — keeps every acknowledged write, so the fault is the outage, not data loss.
 */
export async function startRestartableRedis(): Promise<RestartableRedis> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'capstan-faults-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''];
  args.push('--appendonly', 'yes', '--appendfsync', 'always', '--daemonize', 'no', '--logfile', '');
  let proc: ManagedProcess | undefined;
  const start = async () => {
    proc = await spawnManagedProcess({
      name: 'redis-server',
      command: 'redis-server',
      args,
      logFile: join(dir, 'redis-server.log'),
      cwd: dir,
    });
    trackForExit(proc);
    for (let i = 0; i < 200; i++) {
      if (await pong(port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`redis-server on port ${port} did not answer PONG after a restart; see ${dir}/redis-server.log`);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    async restart({ kill, downMs }) {
      await proc?.stop({ kill });
      await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
    async stop() {
      await proc?.stop({ kill: true });
      await rm(dir, { recursive: true, force: true });
    },
  };
}
