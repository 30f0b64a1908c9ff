import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { forgetPid, trackPid } from './cleanup-on-exit.js';
import { ServerStartError } from './errors.js';

/** Options for {@link spawnManagedProcess}. */
export interface ManagedProcessOptions {
  /** Human-readable name used in errors, e.g. `nats-server`. */
  name: string;
  /** Absolute path of the executable. */
  command: string;
  /** Command-line arguments. */
  args: readonly string[];
  /** stdout and stderr are appended to this file (appending keeps the history across restarts). */
  logFile: string;
  /** Working directory; must be readable by `uid` when set. */
  cwd?: string;
  /** Run as this user id (only possible as root). */
  uid?: number;
  /** Run as this group id (only possible as root). */
  gid?: number;
  /** Extra environment variables on top of the current environment. */
  env?: Record<string, string>;
  /**
   * Signal for a graceful stop. PostgreSQL wants SIGINT ("fast shutdown"): its SIGTERM waits for every
   * client to disconnect.
   * @default 'SIGTERM'
   */
  stopSignal?: NodeJS.Signals;
  /**
   * How long a graceful stop may take before SIGKILL.
   * @default 10000
   */
  stopTimeoutMs?: number;
}

/** How a managed process ended. */
export interface ProcessExit {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  /** Terminating signal, or null on a normal exit. */
  signal: NodeJS.Signals | null;
}

/** A child server process owned by the test kit. */
export interface ManagedProcess {
  /** Name used in errors. */
  readonly name: string;
  /** OS process id. */
  readonly pid: number;
  /** Where its output goes. */
  readonly logFile: string;
  /** Settles when the process has exited. */
  readonly exited: Promise<ProcessExit>;
  /** The exit, once it happened; undefined while running. */
  readonly exit: ProcessExit | undefined;
  /**
   * Stops the process: the graceful signal, then SIGKILL after `stopTimeoutMs`; or SIGKILL at once with `kill`.
   * Resolves when the process has exited. Safe to call repeatedly.
   */
  stop(options?: { kill?: boolean }): Promise<void>;
}

/** Returns the last `maxLines` lines of a log file, or '' if it can't be read. */
export async function readLogTail(logFile: string, maxLines = 25): Promise<string> {
  try {
    const text = await readFile(logFile, 'utf8');
    return text.trimEnd().split('\n').slice(-maxLines).join('\n');
  } catch {
    return '';
  }
}

function waitForSpawn(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
}

/**
 * Spawns a server with its output in a log file and registers it for kill-on-exit.
 * Resolves once the OS has started the process (not when the server is ready: see `waitUntilReady`).
 */
export async function spawnManagedProcess(options: ManagedProcessOptions): Promise<ManagedProcess> {
  const stopSignal = options.stopSignal ?? 'SIGTERM';
  const stopTimeoutMs = options.stopTimeoutMs ?? 10_000;
  const fd = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(options.command, options.args, {
      cwd: options.cwd,
      uid: options.uid,
      gid: options.gid,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', fd, fd],
    });
    await waitForSpawn(child);
  } catch (cause) {
    throw new ServerStartError(`Failed to spawn ${options.name} (${options.command})`, { cause });
  } finally {
    // The child has its own copy of the descriptor.
    closeSync(fd);
  }
  const pid = child.pid!;
  trackPid(pid);

  let exit: ProcessExit | undefined;
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      forgetPid(pid);
      resolve(exit);
    });
  });

  function sendSignal(signal: NodeJS.Signals): void {
    if (exit) return;
    try {
      process.kill(pid, signal);
    } catch {
      // Exited between the check and the kill.
    }
  }

  async function stop(stopOptions?: { kill?: boolean }): Promise<void> {
    if (exit) return;
    if (stopOptions?.kill) {
      sendSignal('SIGKILL');
      await exited;
      return;
    }
    sendSignal(stopSignal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), stopTimeoutMs);
    });
    const outcome = await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      sendSignal('SIGKILL');
      await exited;
    }
  }

  return {
    name: options.name,
    pid,
    logFile: options.logFile,
    exited,
    get exit() {
      return exit;
    },
    stop,
  };
}
