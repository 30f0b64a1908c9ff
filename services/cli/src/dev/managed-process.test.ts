import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findExecutable, MissingExecutableError } from './find-executable.js';
import { ProcessStartError, spawnManagedProcess } from './managed-process.js';
import { isProcessAlive } from './previous-run.js';
import { PortWaitError, waitForPort } from './wait-for-port.js';

const dir = mkdtempSync(join(tmpdir(), 'capstan-cli-process-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Spawns `node -e script` as a managed process. */
function spawnNode(name: string, script: string, stopTimeoutMs?: number) {
  return spawnManagedProcess({
    name,
    command: process.execPath,
    args: ['-e', script],
    logFile: join(dir, `${name}.log`),
    stopTimeoutMs,
  });
}

describe('spawnManagedProcess', () => {
  it('reports a command that cannot be started instead of crashing on the spawn error', async () => {
    const start = () =>
      spawnManagedProcess({
        name: 'ghost',
        command: join(dir, 'no-such-binary'),
        args: [],
        logFile: join(dir, 'g.log'),
      });
    expect(start).toThrow(ProcessStartError);
    expect(start).toThrow(`ghost could not be started from ${join(dir, 'no-such-binary')}`);
    // Give the asynchronous 'error' events a chance to fire: an unhandled one would fail the run.
    await new Promise((resolve) => setTimeout(resolve, 50));
  });

  it('stops a process with SIGTERM', async () => {
    const child = spawnNode('sleeper', 'setInterval(() => {}, 1000)');
    expect(isProcessAlive(child.pid)).toBe(true);
    const exit = await child.stop();
    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
    expect(isProcessAlive(child.pid)).toBe(false);
    expect(await child.stop()).toBe(exit);
  });

  it('falls back to SIGKILL when SIGTERM is ignored', async () => {
    const child = spawnNode(
      'stubborn',
      "process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('up'); setInterval(() => {}, 1000)",
      300,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    const exit = await child.stop();
    expect(exit.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(isProcessAlive(child.pid)).toBe(false);
  });
});

describe('waitForPort', () => {
  it('fails at once with the log tail when the process exits before listening', async () => {
    const child = spawnNode('crasher', "console.error('bad config: no such option --frobnicate'); process.exit(3)");
    const attempt = waitForPort({ host: '127.0.0.1', port: 1, process: child, timeoutMs: 10_000 });
    await expect(attempt).rejects.toThrow(PortWaitError);
    await expect(attempt).rejects.toThrow(/crasher exited \(code 3.*bad config: no such option --frobnicate/s);
  });

  it('resolves once the port accepts connections', async () => {
    const child = spawnNode(
      'listener',
      "require('node:net').createServer().listen(0, '127.0.0.1', function () { console.log(this.address().port) })",
    );
    try {
      let port = 0;
      for (let i = 0; i < 200 && port === 0; i++) {
        port = Number(readFileSync(child.logFile, 'utf8').trim()) || 0;
        if (port === 0) await new Promise((resolve) => setTimeout(resolve, 25));
      }
      await expect(waitForPort({ host: '127.0.0.1', port, process: child })).resolves.toBeUndefined();
    } finally {
      await child.stop();
    }
  });
});

describe('findExecutable', () => {
  it('finds nats-server even when /usr/sbin is not on PATH', () => {
    expect(findExecutable('nats-server', '/nonexistent')).toMatch(/nats-server$/);
  });

  it('says how to install a missing server', () => {
    expect(() => findExecutable('capstan-no-such-server', '/nonexistent')).toThrow(MissingExecutableError);
    expect(() => findExecutable('capstan-no-such-server', '/nonexistent')).toThrow(
      /capstan-no-such-server was not found on PATH .*apt-get update && apt-get install -y nats-server redis-server/,
    );
  });
});
