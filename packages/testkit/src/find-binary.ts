import { accessSync, constants, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { MissingBinaryError } from './errors.js';

/** Where PostgreSQL's Debian packages install their server binaries (one directory per major version). */
const POSTGRES_LIB_DIR = '/usr/lib/postgresql';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function pathDirs(): string[] {
  // Debian puts nats-server in /usr/sbin, which is not on every user's PATH.
  const fromEnv = (process.env['PATH'] ?? '').split(delimiter).filter(Boolean);
  return [...new Set([...fromEnv, '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'])];
}

/** Versioned PostgreSQL bin dirs, highest major version first. */
function postgresBinDirs(): string[] {
  let versions: string[];
  try {
    versions = readdirSync(POSTGRES_LIB_DIR).filter((v) => /^\d+(\.\d+)?$/.test(v));
  } catch {
    return [];
  }
  return versions
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    .map((v) => join(POSTGRES_LIB_DIR, v, 'bin'));
}

/** Options for {@link findBinary}. */
export interface FindBinaryOptions {
  /** Debian package named in the error when the binary is missing. */
  aptPackage: string;
  /**
   * Look in `/usr/lib/postgresql/<version>/bin` first (highest version wins): Debian does not put
   * `initdb`, `pg_ctl` or `postgres` on PATH.
   * @default false
   */
  postgres?: boolean;
}

/**
 * Locates an executable on PATH (plus the sbin dirs, plus PostgreSQL's versioned dirs when asked).
 * @throws {MissingBinaryError} naming the apt package to install.
 */
export function findBinary(name: string, options: FindBinaryOptions): string {
  const dirs = [...(options.postgres ? postgresBinDirs() : []), ...pathDirs()];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  throw new MissingBinaryError(name, options.aptPackage, dirs);
}
