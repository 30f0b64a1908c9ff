import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ManagedProcess, readLogTail } from '@capstan/process';

/** Options for {@link waitForPort}. */
export interface WaitForPortOptions {
  host: string;
  port: number;
  /**
   * Give up after this long.
   * @default 15000
   */
  timeoutMs?: number;
  /** The process expected to open the port: if it exits first, waiting stops at once with its log. */
  process?: ManagedProcess;
  /** Stops waiting when aborted (Ctrl-C during startup). */
  signal?: AbortSignal;
}

/** Thrown when a port did not open in time or its process died first. */
export class PortWaitError extends Error {
  override readonly name = 'PortWaitError';
}

/** Resolves once something accepts TCP connections on `host:port`. */
export async function waitForPort(options: WaitForPortOptions): Promise<void> {
  const { host, port, process: child, signal } = options;
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  for (;;) {
    signal?.throwIfAborted();
    if (child?.exit) {
      const tail = readLogTail(child.logFile);
      throw new PortWaitError(
        `${child.name} exited (code ${child.exit.code}, signal ${child.exit.signal}) before listening on ` +
          `${host}:${port}; log ${child.logFile}:\n${tail}`,
      );
    }
    if (await canConnect(host, port)) return;
    if (Date.now() > deadline) {
      const tail = child ? `; log ${child.logFile}:\n${readLogTail(child.logFile)}` : '';
      throw new PortWaitError(
        `nothing accepted connections on ${host}:${port} within ${options.timeoutMs ?? 15_000} ms${tail}`,
      );
    }
    await sleep(25);
  }
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
