import { DEFAULT_PGLITE_DIR } from '@capstan/config';
import { InvalidDatabaseUrlError } from './errors.js';

/** Where the embedded PGlite database lives when no URL is given (relative to the working directory); defined once in @capstan/config. */
export { DEFAULT_PGLITE_DIR };

/** The URL that selects an in-memory PGlite database (gone when closed). */
export const PGLITE_MEMORY_URL = 'pglite:memory';

const PGLITE_DIR_PREFIX = 'pglite://';

/** Human-readable list of accepted forms, used in every URL error. */
export const ACCEPTED_DATABASE_URLS =
  'postgres://user[:password]@host[:port]/database (or postgresql://), pglite://<directory> or pglite:memory';

/** A parsed database location. */
export type DatabaseLocation =
  | { kind: 'postgres'; url: string }
  | { kind: 'pglite' /** undefined = in memory */; dataDir: string | undefined };

/** Hides the password so URLs can go into error messages and logs. */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    // Unparseable, but it may still carry `user:password@`.
    return url.replace(/(\/\/[^/:@]*:)[^@/]*@/, '$1***@');
  }
}

/**
 * Parses a database URL. `pglite://<dir>` takes the rest verbatim as a path (relative or absolute:
 * `pglite://.capstan/pglite`, `pglite:///var/lib/capstan`), which a WHATWG URL parser would mangle into a host.
 * @throws {InvalidDatabaseUrlError} saying which forms are accepted.
 */
export function parseDatabaseUrl(url: string): DatabaseLocation {
  const trimmed = url.trim();
  if (trimmed === '') throw new InvalidDatabaseUrlError(`Database URL is empty; expected ${ACCEPTED_DATABASE_URLS}`);
  if (trimmed === PGLITE_MEMORY_URL) return { kind: 'pglite', dataDir: undefined };
  if (trimmed.startsWith(PGLITE_DIR_PREFIX)) {
    const dataDir = trimmed.slice(PGLITE_DIR_PREFIX.length);
    if (dataDir === '') {
      throw new InvalidDatabaseUrlError(
        `Database URL "pglite://" has no directory; expected ${ACCEPTED_DATABASE_URLS}`,
      );
    }
    return { kind: 'pglite', dataDir };
  }
  if (/^postgres(ql)?:\/\//.test(trimmed)) {
    let parsed: URL;
    try {
      parsed = new URL(trimmed);
    } catch (cause) {
      throw new InvalidDatabaseUrlError(
        `Database URL ${JSON.stringify(redactDatabaseUrl(trimmed))} is not a valid URL; expected ${ACCEPTED_DATABASE_URLS}`,
        { cause },
      );
    }
    // pg also accepts a unix socket dir as ?host=/path with an empty authority.
    if (parsed.hostname === '' && !parsed.searchParams.has('host')) {
      throw new InvalidDatabaseUrlError(
        `Database URL ${JSON.stringify(redactDatabaseUrl(trimmed))} has no host; expected ${ACCEPTED_DATABASE_URLS}`,
      );
    }
    return { kind: 'postgres', url: trimmed };
  }
  throw new InvalidDatabaseUrlError(
    `Unsupported database URL ${JSON.stringify(redactDatabaseUrl(trimmed))}; expected ${ACCEPTED_DATABASE_URLS}`,
  );
}
