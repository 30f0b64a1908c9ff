import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/** Options for {@link spawnManagedProcess}. */
export interface ManagedProcessOptions {
  /** Short name used in progress lines and errors, e.g. `nats-server`. */
  name: string;
  /** Absolute path of the executable. */
  command: string;
  /** Arguments. */
  args: readonly string[];
  /** stdout and stderr are appended here, so a failed start can be diagnosed afterwards. */
  logFile: string;
  /** Working directory. @default process.cwd() */
  cwd?: string;
  /** Environment. @default process.env */
  env?: NodeJS.ProcessEnv;
  /**
   * How long a graceful SIGTERM may take before SIGKILL.
   * @default 5000
   */
  stopTimeoutMs?: number;
}

/** How a process ended. */
export interface ProcessExit {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  /** The signal that ended it, or null. */
  signal: NodeJS.Signals | null;
}

/** A child process `capstan dev` owns. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Settles once the process has exited, however that happened. */
  readonly exited: Promise<ProcessExit>;
  /** The exit once it happened, undefined while running. */
  readonly exit: ProcessExit | undefined;
  /**
   * SIGTERM, then SIGKILL after `stopTimeoutMs` (or SIGKILL at once with `kill: true`); resolves when the
   * process is gone. Safe to call more than once.
   */
  stop(options?: { kill?: boolean }): Promise<ProcessExit>;
}

/** Thrown when a process cannot be spawned at all. */
export class ProcessStartError extends Error {
  override readonly name = 'ProcessStartError';
}

/**
 * Starts a child process in its own process group. Being its own group means a Ctrl-C in the terminal reaches
 * only `capstan dev`, which then stops the children in order instead of all of them racing to exit.
 */
export function spawnManagedProcess(options: ManagedProcessOptions): ManagedProcess {
  const stopTimeoutMs = options.stopTimeoutMs ?? 5000;
  const log = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(options.command, [...options.args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', log, log],
      detached: true,
    });
  } finally {
    // The child has its own copy of the descriptor.
    closeSync(log);
  }
  // Spawn failures (ENOENT, EACCES) arrive as an 'error' event; without a listener they would crash dev.
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  if (child.pid === undefined) {
    throw new ProcessStartError(`${options.name} could not be started from ${options.command}`, {
      cause: spawnError,
    });
  }
  const pid = child.pid;
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
      signalProcess(pid, 'SIGTERM');
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
export function readLogTail(logFile: string, maxLines = 20): string {
  try {
    return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-maxLines).join('\n');
  } catch {
    return '';
  }
}
