import type { LogEvent } from 'kysely';

/**
 * The logging surface the store needs; a pino logger (e.g. from @capstan/log) fits as is.
 * Only SQL text and timings are logged, never parameters: they carry payloads and secrets.
 */
export interface StoreLogger {
  /** Each executed query, with its duration. */
  debug(fields: Record<string, unknown>, message: string): void;
  /** Each failed query, with the error. */
  error(fields: Record<string, unknown>, message: string): void;
}

/** Adapts a {@link StoreLogger} to kysely's `log` hook. */
export function createKyselyLog(logger: StoreLogger): (event: LogEvent) => void {
  return (event) => {
    const fields = { sql: event.query.sql, durationMs: event.queryDurationMillis };
    if (event.level === 'error') logger.error({ ...fields, err: event.error }, 'query failed');
    else logger.debug(fields, 'query');
  };
}
