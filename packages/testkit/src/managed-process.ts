import {
  type ManagedProcess,
  ProcessStartError,
  type ManagedProcessOptions as SharedOptions,
  spawnManagedProcess as spawnShared,
} from '@capstan/process';
import { forgetPid, trackPid } from './cleanup-on-exit.js';
import { ServerStartError } from './errors.js';

export { type ManagedProcess, type ProcessExit, readLogTail } from '@capstan/process';

/** Options for {@link spawnManagedProcess}: the shared ones, with `env` as extra variables on top of the current environment. */
export interface ManagedProcessOptions extends Omit<SharedOptions, 'env'> {
  /** Extra environment variables on top of the current environment. */
  env?: Record<string, string>;
}

/**
 * Spawns a test server (the shared `@capstan/process` supervisor, 10 s graceful stop by default) and registers it
 * so it is killed when the test process exits, whatever happens to the test.
 */
export async function spawnManagedProcess(options: ManagedProcessOptions): Promise<ManagedProcess> {
  let child: ManagedProcess;
  try {
    child = await spawnShared({ stopTimeoutMs: 10_000, ...options, env: { ...process.env, ...options.env } });
  } catch (cause) {
    if (cause instanceof ProcessStartError)
      throw new ServerStartError(`Failed to spawn ${options.name} (${options.command})`, { cause });
    throw cause;
  }
  trackPid(child.pid);
  void child.exited.then(() => forgetPid(child.pid));
  return child;
}
