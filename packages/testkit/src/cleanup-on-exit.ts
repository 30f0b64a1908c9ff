import { rmSync } from 'node:fs';

/**
 * Last-resort cleanup: when the Node process exits (a crashed or interrupted test run) without having
 * stopped its servers, kill them and delete their temp dirs so no orphan keeps a port or disk space.
 * Only synchronous work is possible in an 'exit' handler, hence SIGKILL and rmSync.
 */
const livePids = new Set<number>();
const liveDirs = new Set<string>();
let hookInstalled = false;

function onExit(): void {
  for (const pid of livePids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  for (const dir of liveDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Best effort: a half-deleted temp dir is harmless.
    }
  }
}

function installHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.once('exit', onExit);
}

/** Kill `pid` if this process exits before {@link forgetPid} is called. */
export function trackPid(pid: number): void {
  installHook();
  livePids.add(pid);
}

/** The process with `pid` has exited; stop tracking it. */
export function forgetPid(pid: number): void {
  livePids.delete(pid);
}

/** Delete `dir` if this process exits before {@link forgetDir} is called. */
export function trackDir(dir: string): void {
  installHook();
  liveDirs.add(dir);
}

/** `dir` has been removed (or handed over); stop tracking it. */
export function forgetDir(dir: string): void {
  liveDirs.delete(dir);
}
