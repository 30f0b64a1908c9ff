import { ServerStartError } from './errors.js';
import { type ManagedProcess, readLogTail } from './managed-process.js';

/** Options for {@link waitUntilReady}. */
export interface WaitUntilReadyOptions {
  /**
   * Give up after this long.
   * @default 20000
   */
  timeoutMs?: number;
  /**
   * Pause between probes.
   * @default 25
   */
  intervalMs?: number;
  /** What is awaited, for the error message, e.g. `JetStream meta leader`. */
  what?: string;
}

/**
 * Polls `probe` until it returns true. Fails fast (with the log tail) when the process exits first, and
 * with the last probe error as `cause` on timeout. Probe exceptions count as "not ready yet".
 */
export async function waitUntilReady(
  proc: ManagedProcess,
  probe: () => Promise<boolean>,
  options: WaitUntilReadyOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const intervalMs = options.intervalMs ?? 25;
  const what = options.what ?? 'readiness';
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    if (proc.exit) {
      const { code, signal } = proc.exit;
      throw new ServerStartError(
        `${proc.name} (pid ${proc.pid}) exited with ${signal ? `signal ${signal}` : `code ${code}`} while waiting for ${what}`,
        { logFile: proc.logFile, logTail: await readLogTail(proc.logFile) },
      );
    }
    try {
      if (await probe()) return;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new ServerStartError(`${proc.name} (pid ${proc.pid}) not ready after ${timeoutMs} ms waiting for ${what}`, {
        cause: lastError,
        logFile: proc.logFile,
        logTail: await readLogTail(proc.logFile),
      });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
