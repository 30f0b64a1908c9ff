import { resolve } from 'node:path';
import { DEFAULT_PGLITE_DIR } from './defaults.js';

/**
 * Turns the configured database URL into the one to open: the configured URL when set, otherwise the embedded
 * PGlite database at `.capstan/pglite` under `cwd` (as an absolute `pglite://` URL so it does not depend on the
 * working directory of whoever opens it later).
 */
export function resolveDatabaseUrl(configured: string, cwd: string = process.cwd()): string {
  if (configured !== '') return configured;
  return `pglite://${resolve(cwd, DEFAULT_PGLITE_DIR)}`;
}
