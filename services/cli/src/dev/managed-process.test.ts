import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnManagedProcess } from '@capstan/process';
import { afterAll, describe, expect, it } from 'vitest';
import { findExecutable, MissingExecutableError } from './find-executable.js';
import { PortWaitError, waitForPort } from './wait-for-port.js';

const dir = mkdtempSync(join(tmpdir(), 'capstan-cli-dev-'));
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

describe('waitForPort', () => {
  it('fails at once with the log tail when the process exits before listening', async () => {
    const child = await spawnNode(
      'crasher',
      "console.error('bad config: no such option --frobnicate'); process.exit(3)",
    );
    const attempt = waitForPort({ host: '127.0.0.1', port: 1, process: child, timeoutMs: 10_000 });
    await expect(attempt).rejects.toThrow(PortWaitError);
    await expect(attempt).rejects.toThrow(/crasher exited \(code 3.*bad config: no such option --frobnicate/s);
  });

  it('resolves once the port accepts connections', async () => {
    const child = await spawnNode(
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
