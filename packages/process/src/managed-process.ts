import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/** Options for {@link spawnManagedProcess}. */
export interface ManagedProcessOptions {
  /** Short name used in errors, e.g. `nats-server`. */
  name: string;
  /** Absolute path of the executable. */
  command: string;
  /** Arguments. */
  args: readonly string[];
  /** stdout and stderr are appended here (appending keeps the history across restarts). */
  logFile: string;
  /** Working directory. @default process.cwd() */
  cwd?: string;
  /** Environment. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Run as this user id (only possible as root). */
  uid?: number;
  /** Run as this group id (only possible as root). */
  gid?: number;
  /**
   * Own process group: a Ctrl-C in the terminal then reaches only the parent, which stops its children in order
   * instead of all of them racing to exit. @default false
   */
  detached?: boolean;
  /** Signal for a graceful stop (PostgreSQL wants SIGINT, "fast shutdown"). @default 'SIGTERM' */
  stopSignal?: NodeJS.Signals;
  /** How long a graceful stop may take before SIGKILL. @default 5000 */
  stopTimeoutMs?: number;
}

/** How a process ended. */
export interface ProcessExit {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  /** The signal that ended it, or null. */
  signal: NodeJS.Signals | null;
}

/** A supervised child process. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Settles once the process has exited, however that happened. */
  readonly exited: Promise<ProcessExit>;
  /** The exit once it happened, undefined while running. */
  readonly exit: ProcessExit | undefined;
  /**
   * The graceful signal, then SIGKILL after `stopTimeoutMs` (or SIGKILL at once with `kill: true`); resolves when
   * the process is gone. Safe to call more than once.
   */
  stop(options?: { kill?: boolean }): Promise<ProcessExit>;
}

/** Thrown when a process cannot be spawned at all (missing executable, no permission). */
export class ProcessStartError extends Error {
  override readonly name = 'ProcessStartError';
}

/** Starts a process with its output in `logFile`; resolves once the OS started it (not when it is ready). */
export async function spawnManagedProcess(options: ManagedProcessOptions): Promise<ManagedProcess> {
  const stopSignal = options.stopSignal ?? 'SIGTERM';
  const stopTimeoutMs = options.stopTimeoutMs ?? 5000;
  const log = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(options.command, [...options.args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      uid: options.uid,
      gid: options.gid,
      stdio: ['ignore', log, log],
      detached: options.detached ?? false,
    });
    // Spawn failures (ENOENT, EACCES) arrive as an 'error' event instead of 'spawn'.
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
  } catch (cause) {
    throw new ProcessStartError(
      `${options.name} could not be started from ${options.command}: ${(cause as Error).message}`,
      { cause },
    );
  } finally {
    // The child has its own copy of the descriptor.
    closeSync(log);
  }
  child.on('error', () => {}); // later errors (e.g. kill races) must not crash the parent
  const pid = child.pid!;
  let exit: ProcessExit | undefined;
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
  });
  let stopping: Promise<ProcessExit> | undefined;

  const stop = (stopOptions: { kill?: boolean } = {}): Promise<ProcessExit> => {
    if (exit) return Promise.resolve(exit);
    if (stopOptions.kill) {
      signalProcess(pid, 'SIGKILL');
      return exited;
    }
    stopping ??= (async () => {
      signalProcess(pid, stopSignal);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), stopTimeoutMs);
      });
      const first = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (first === 'timeout') signalProcess(pid, 'SIGKILL');
      return exited;
    })();
    return stopping;
  };

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

/** Sends a signal, ignoring "no such process" (it already exited). */
function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Returns the last lines of a log file for error messages, or '' when it cannot be read. */
export function readLogTail(logFile: string, maxLines = 25): string {
  try {
    return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-maxLines).join('\n');
  } catch {
    return '';
  }
}
