import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ManagedProcess, spawnManagedProcess } from '@capstan/process';
import type { ProcessRecord } from './history.js';

/** The repository root (the deployables are started from their sources, like vitest runs them). */
export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** Thrown when a Capstan process of the fault suite does not come up. */
export class FaultProcessError extends Error {
  override name = 'FaultProcessError';
}

/** A Capstan process (scheduler replica, worker) the fault suite can kill, pause and resume. */
export interface CapstanProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** True until it exits. */
  alive(): boolean;
  /** SIGKILL; resolves once it is gone. Marks the process as killed on purpose (not an I6 violation). */
  kill(): Promise<void>;
  /** SIGSTOP: the process freezes with its connections open (a GC pause, a stuck VM). */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** SIGTERM (graceful), SIGKILL after the timeout. Marks it as stopped on purpose. */
  stop(): Promise<void>;
  /** Reads its RSS now (the peak is kept for I6). */
  sampleRss(): Promise<void>;
  /** How it fared, for the history checker. */
  record(): ProcessRecord;
}

const live = new Set<ManagedProcess>();
let exitHookInstalled = false;
/** Whatever happens to the test process, the processes it started (Capstan and servers) die with it. */
export function trackForExit(proc: ManagedProcess): void {
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of live) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** The resident set size of process `pid` now, in bytes (0 once it is gone). */
export async function rssBytes(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Starts a TypeScript entry point of the repository in its own Node process, from source (`--conditions=@capstan/source
 * --import tsx`, the way the deployables run in development), with `env` on top of the current environment and its
 * output in `<runDir>/<name>.log`.
 */
export async function spawnCapstanProcess(opts: {
  name: string;
  entry: string;
  env: Record<string, string>;
  runDir: string;
}): Promise<CapstanProcess> {
  const logFile = join(opts.runDir, `${opts.name}.log`);
  const proc = await spawnManagedProcess({
    name: opts.name,
    command: process.execPath,
    args: ['--conditions=@capstan/source', '--import', 'tsx', join(REPO_ROOT, opts.entry)],
    cwd: REPO_ROOT,
    env: { ...process.env, ...opts.env },
    logFile,
    stopTimeoutMs: 5000,
  });
  trackForExit(proc);
  let expectedAlive = true;
  let peakRssBytes = 0;
  let exitedAt: number | undefined;
  void proc.exited.then(() => {
    exitedAt = Date.now();
  });
  const signal = (sig: NodeJS.Signals) => {
    if (proc.exit) return;
    try {
      process.kill(proc.pid, sig);
    } catch {
      // it exited in between
    }
  };
  return {
    name: opts.name,
    pid: proc.pid,
    logFile,
    alive: () => proc.exit === undefined,
    async kill() {
      expectedAlive = false;
      await proc.stop({ kill: true });
    },
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    async stop() {
      expectedAlive = false;
      // A paused process cannot act on SIGTERM.
      signal('SIGCONT');
      await proc.stop();
    },
    async sampleRss() {
      if (proc.exit) return;
      peakRssBytes = Math.max(peakRssBytes, await rssBytes(proc.pid));
    },
    record() {
      const exit = proc.exit;
      return {
        name: opts.name,
        expectedAlive,
        alive: exit === undefined,
        ...(exit ? { exit: exit.signal ?? `code ${exit.code}` } : {}),
        ...(exitedAt !== undefined ? { exitedAt } : {}),
        peakRssBytes,
      };
    },
  };
}

/** The last lines of a process log, for error messages. */
export async function logTail(file: string, lines = 30): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Waits until `probe` resolves true, failing with the process log when the process exits or time runs out. */
export async function waitForProcess(
  p: CapstanProcess,
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!p.alive()) throw new FaultProcessError(`${p.name} exited before ${what}:\n${await logTail(p.logFile)}`);
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new FaultProcessError(`${p.name}: no ${what} within ${timeoutMs} ms:\n${await logTail(p.logFile)}`);
}
