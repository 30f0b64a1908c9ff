import { type ChildProcess, fork } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { PROCS_DIST_URL } from './build-dist.js';

/** Workspace packages from their TypeScript sources (the default: no build needed). */
const FROM_SOURCE = ['--conditions=@capstan/source', '--import', 'tsx'];

/** How to fork a bench process. */
export interface SpawnOptions {
  /**
   * Run like a deployment: plain `node` on the transpiled process file, workspace packages from their `dist/`
   * (call `buildDist()` first). @default what {@link spawnFromDistByDefault} set, else false (tsx, packages from
   * their TypeScript sources)
   */
  fromDist?: boolean;
}

let fromDistByDefault = false;

/** Makes `fromDist` the default of every later {@link spawnProc} (the runner does, once `buildDist()` succeeded). */
export function spawnFromDistByDefault(value: boolean): void {
  fromDistByDefault = value;
}

/** Whether bench processes currently run from the built packages. */
export const spawningFromDist = () => fromDistByDefault;

/** Forks a bench process (compiled, or TypeScript via tsx) and waits for its `ready` message. */
export async function spawnProc(
  file: string,
  env: Record<string, string>,
  options: SpawnOptions = {},
): Promise<ChildProcess> {
  // BENCH_PROF=<dir> writes a V8 CPU profile of every bench process there (for finding bottlenecks).
  const prof = process.env['BENCH_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_PROF']}`] : [];
  const fromDist = options.fromDist ?? fromDistByDefault;
  const entry = fromDist
    ? new URL(`procs/${file.replace(/\.ts$/, '.js')}`, PROCS_DIST_URL)
    : new URL(`../procs/${file}`, import.meta.url);
  const cp = fork(entry, {
    env: { ...process.env, ...env },
    execArgv: [...(fromDist ? [] : FROM_SOURCE), ...prof],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    cp.once('message', () => resolve());
    cp.once('exit', (code) => reject(new Error(`${file} exited with ${code} before it was ready`)));
  });
  return cp;
}

let nextQuestion = 1;

/** Asks a bench process for a named value (see `serveRunner` in proc-ipc.ts). */
export function askProc<T>(cp: ChildProcess, ask: string, timeoutMs = 10_000): Promise<T> {
  const id = nextQuestion++;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      cp.off('message', listener);
      reject(new Error(`process ${cp.pid} did not answer "${ask}" within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (m: { id?: number; value?: unknown; error?: string }) => {
      if (m.id !== id) return;
      clearTimeout(timer);
      cp.off('message', listener);
      if (m.error) reject(new Error(`process ${cp.pid} could not answer "${ask}": ${m.error}`));
      else resolve(m.value as T);
    };
    cp.on('message', listener);
    cp.send({ ask, id });
  });
}

/** Asks a bench process to stop and waits for it. */
export async function stopProc(cp: ChildProcess): Promise<void> {
  if (cp.exitCode !== null) return;
  const exited = new Promise((r) => cp.once('exit', r));
  cp.send({ stop: true });
  const timer = setTimeout(() => cp.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

const TICKS = 100; // USER_HZ on Linux

/** CPU seconds (user + system) of a process and, with `tree`, all its descendants. */
export function cpuSeconds(pid: number, tree = false): number {
  const pids = tree ? [pid, ...descendants(pid)] : [pid];
  let ticks = 0;
  for (const p of pids) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited
    }
  }
  return ticks / TICKS;
}

/**
 * Read and write system calls (`/proc/<pid>/io` syscr/syscw: sockets included) and context switches (voluntary +
 * involuntary, summed over every thread) of a process (and its descendants) so far. On two shared cores every
 * write that wakes another process can switch it in, so these say as much about cost as CPU time does.
 */
export function syscallCounts(pid: number, tree = false): { reads: number; writes: number; switches: number } {
  const pids = tree ? [pid, ...descendants(pid)] : [pid];
  const out = { reads: 0, writes: 0, switches: 0 };
  for (const p of pids) {
    try {
      const io = readFileSync(`/proc/${p}/io`, 'utf8');
      out.reads += Number(/syscr:\s+(\d+)/.exec(io)?.[1] ?? 0);
      out.writes += Number(/syscw:\s+(\d+)/.exec(io)?.[1] ?? 0);
      for (const task of readdirSync(`/proc/${p}/task`)) {
        const status = readFileSync(`/proc/${p}/task/${task}/status`, 'utf8');
        for (const m of status.matchAll(/ctxt_switches:\s+(\d+)/g)) out.switches += Number(m[1]);
      }
    } catch {
      // exited
    }
  }
  return out;
}

/** Resident set size of a process (and its descendants), MiB. */
export function rssMiB(pid: number, tree = false): number {
  const pids = tree ? [pid, ...descendants(pid)] : [pid];
  let kb = 0;
  for (const p of pids) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      kb += Number(m?.[1] ?? 0);
    } catch {
      // exited
    }
  }
  return kb / 1024;
}

function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(d));
      children.set(ppid, list);
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}
