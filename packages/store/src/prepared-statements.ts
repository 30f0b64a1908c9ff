import type pg from 'pg';

/**
 * SQL that starts with this comment, e.g. `/*prepare:capstan_commit*\/ WITH ...`, runs as a named prepared
 * statement on PostgreSQL: parsed and planned once per connection instead of on every call. Hot statements of the
 * scheduler use it; everything else is unaffected. (PGlite ignores the comment.)
 */
export const PREPARE_MARKER = '/*prepare:';

const NAME = /^\/\*prepare:([A-Za-z0-9_]{1,63})\*\//;

/** Marks `sql` to run as the prepared statement `name`. */
export function preparedSql(name: string, sql: string): string {
  if (!/^[A-Za-z0-9_]{1,63}$/.test(name)) throw new Error(`invalid prepared statement name ${JSON.stringify(name)}`);
  return `${PREPARE_MARKER}${name}*/ ${sql}`;
}

const patched = new WeakSet<object>();

/** Makes every client the pool hands out honour {@link preparedSql} markers. */
export function enablePreparedStatements(pool: pg.Pool): void {
  pool.on('connect', (client) => {
    if (patched.has(client)) return;
    patched.add(client);
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (text: unknown, values?: unknown, callback?: unknown) => {
      if (typeof text === 'string' && text.startsWith(PREPARE_MARKER)) {
        const m = NAME.exec(text);
        if (m) return query({ name: m[1], text, values }, callback);
      }
      return query(text, values, callback);
    };
  });
}
