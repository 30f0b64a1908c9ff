import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ProcessStartError, readLogTail, spawnManagedProcess } from './managed-process.js';

const dir = mkdtempSync(join(tmpdir(), 'capstan-process-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Alive and not a zombie. */
function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8') as string;
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Spawns `node -e script` as a managed process. */
function spawnNode(name: string, script: string, stopTimeoutMs?: number, stopSignal?: NodeJS.Signals) {
  return spawnManagedProcess({
    name,
    command: process.execPath,
    args: ['-e', script],
    logFile: join(dir, `${name}.log`),
    ...(stopTimeoutMs !== undefined ? { stopTimeoutMs } : {}),
    ...(stopSignal ? { stopSignal } : {}),
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
    await expect(start()).rejects.toThrow(ProcessStartError);
    await expect(start()).rejects.toThrow(`ghost could not be started from ${join(dir, 'no-such-binary')}`);
    // Give the asynchronous 'error' events a chance to fire: an unhandled one would fail the run.
    await new Promise((resolve) => setTimeout(resolve, 50));
  });

  it('stops a process with SIGTERM', async () => {
    const child = await spawnNode('sleeper', 'setInterval(() => {}, 1000)');
    expect(isProcessAlive(child.pid)).toBe(true);
    const exit = await child.stop();
    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
    expect(isProcessAlive(child.pid)).toBe(false);
    expect(await child.stop()).toBe(exit);
  });

  it('falls back to SIGKILL when SIGTERM is ignored', async () => {
    const child = await spawnNode(
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

describe('stop signal and log tail', () => {
  it('uses the configured graceful signal and keeps the output for error messages', async () => {
    const child = await spawnNode(
      'postgres-like',
      "process.on('SIGINT', () => { console.log('fast shutdown'); process.exit(0); }); console.log('ready'); setInterval(() => {}, 1000)",
      5000,
      'SIGINT',
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await child.stop()).toEqual({ code: 0, signal: null });
    expect(readLogTail(child.logFile)).toBe('ready\nfast shutdown');
    expect(readLogTail(join(dir, 'missing.log'))).toBe('');
  });
});
