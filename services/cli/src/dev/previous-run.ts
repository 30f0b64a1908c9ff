import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEV_INFO_FILE, readDevInfo, removeDevInfo } from './dev-info.js';

/** Thrown when another `capstan dev` already runs with the same data directory. */
export class DevAlreadyRunningError extends Error {
  override readonly name = 'DevAlreadyRunningError';
}

/**
 * Returns true when a process with `pid` is running. A zombie (exited, not yet reaped by its parent — for an
 * orphan that is init, which may take seconds) counts as gone: it holds no ports and no files.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    // No /proc (not Linux) or it vanished meanwhile: trust kill(0).
    return true;
  }
}

function commandLineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/**
 * Deals with what a previous `capstan dev` in the same data directory left behind. If it is still running,
 * refuse to start (both would share the same data files). If it died without cleaning up (SIGKILL, crash), kill
 * the servers it had started — they would hold the data directories and ports — and forget its `dev.json`.
 * A pid is only killed when its command line still names the server, so a recycled pid is left alone.
 */
export async function cleanUpPreviousRun(dataDir: string, progress: (line: string) => void): Promise<void> {
  const previous = readDevInfo(dataDir);
  if (!previous) return;
  if (previous.pid !== process.pid && isProcessAlive(previous.pid)) {
    throw new DevAlreadyRunningError(
      `capstan dev is already running in this directory (pid ${previous.pid}, see ${dataDir}/${DEV_INFO_FILE}); ` +
        'stop it first (Ctrl-C in its terminal, or kill -INT <pid>), or set CAPSTAN_DEV_DIR to another directory',
    );
  }
  const killed: number[] = [];
  for (const [name, pid] of Object.entries(previous.processes ?? {})) {
    if (isProcessAlive(pid) && commandLineOf(pid).includes(name)) {
      progress(`stopping ${name} (pid ${pid}) left over from a previous run`);
      try {
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
      } catch {
        // Exited meanwhile.
      }
    }
  }
  // SIGKILL is delivered asynchronously; wait until they are gone so the new servers get their data dirs.
  const deadline = Date.now() + 5_000;
  while (killed.some(isProcessAlive) && Date.now() < deadline) await sleep(20);
  removeDevInfo(dataDir);
}
