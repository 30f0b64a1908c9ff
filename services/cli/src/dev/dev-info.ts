import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Name of the file, inside the dev data directory, that describes the running stack. */
export const DEV_INFO_FILE = 'dev.json';

/** Prefix of the single stdout line `capstan dev` prints once everything is up. */
export const READY_PREFIX = 'CAPSTAN_READY';

/**
 * What `capstan dev` is running: printed as `CAPSTAN_READY {json}` and written to `.capstan/dev.json` so
 * scripts and other terminals can find the stack.
 */
export interface DevInfo {
  /** pid of the `capstan dev` process (stop it with SIGINT or SIGTERM). */
  pid: number;
  /** NATS URL. */
  nats: string;
  /** Redis URL. */
  redis: string;
  /** Database URL (`pglite://…` for the embedded database; a postgres URL has its password masked). */
  database: string;
  /** URLs of every started service, by service name. */
  services: Record<string, Readonly<Record<string, string>>>;
  /** pids of the server processes dev started (none with `--no-infra`). */
  processes: Record<string, number>;
  /** Absolute data directory. */
  dataDir: string;
}

/**
 * Writes `dev.json` atomically (write + rename) so a reader never sees half a file; owner-only (0600), since it
 * carries the gateway's demo API key.
 */
export function writeDevInfo(dataDir: string, info: DevInfo): void {
  const path = join(dataDir, DEV_INFO_FILE);
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, path);
}

/** Reads `dev.json`, or undefined when absent or unreadable. */
export function readDevInfo(dataDir: string): DevInfo | undefined {
  const path = join(dataDir, DEV_INFO_FILE);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as DevInfo;
  } catch {
    return undefined;
  }
}

/** Removes `dev.json` (the stack it described is gone). */
export function removeDevInfo(dataDir: string): void {
  rmSync(join(dataDir, DEV_INFO_FILE), { force: true });
}

/** Formats the ready line. */
export function formatReadyLine(info: DevInfo): string {
  return `${READY_PREFIX} ${JSON.stringify(info)}`;
}

/** Replaces the password of a URL with `***` (dev.json and the ready line may end up in logs). */
export function maskUrlPassword(url: string): string {
  return url.replace(/(\/\/[^/@\s:]*):[^/@\s]*@/, '$1:***@');
}
