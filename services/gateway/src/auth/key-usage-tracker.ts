import type { CapstanDatabase } from '@capstan/store';
import { type Kysely, sql } from 'kysely';
import type { Logger } from 'pino';

/** Options for {@link createKeyUsageTracker}. */
export interface KeyUsageTrackerOptions {
  db: Kysely<CapstanDatabase>;
  logger: Logger;
  /** How often pending `last_used_at` values are written, in ms. @default 30000 */
  flushIntervalMs?: number;
  /** Pending keys that force an early flush (bounds memory). @default 10000 */
  maxPending?: number;
}

/** Records API-key use without a database write per request. */
export interface KeyUsageTracker {
  /** Notes that `keyId` was used now. */
  touch(keyId: string): void;
  /** Writes every pending `last_used_at` in one statement. */
  flush(): Promise<void>;
  /** Stops the timer and flushes. */
  stop(): Promise<void>;
}

/**
 * Batches `api_keys.last_used_at`: uses are collected in memory and written by one `UPDATE … FROM unnest(…)` per
 * interval, so a key used 1000 times a second costs one row update per interval, and never moves backwards.
 */
export function createKeyUsageTracker(options: KeyUsageTrackerOptions): KeyUsageTracker {
  const { db, logger } = options;
  const maxPending = options.maxPending ?? 10_000;
  let pending = new Map<string, Date>();
  let flushing: Promise<void> = Promise.resolve();

  const flush = (): Promise<void> => {
    if (pending.size === 0) return flushing;
    const batch = pending;
    pending = new Map();
    const ids = [...batch.keys()];
    const times = [...batch.values()].map((t) => t.toISOString());
    flushing = flushing
      .then(() =>
        sql`
          UPDATE api_keys AS k SET last_used_at = v.used_at
          FROM unnest(${ids}::text[], ${times}::timestamptz[]) AS v(id, used_at)
          WHERE k.id = v.id AND (k.last_used_at IS NULL OR k.last_used_at < v.used_at)`.execute(db),
      )
      .then(
        () => undefined,
        (err: unknown) => logger.warn({ err, keys: ids.length }, 'could not record API key last_used_at'),
      );
    return flushing;
  };

  const timer = setInterval(() => void flush(), options.flushIntervalMs ?? 30_000);
  timer.unref();

  return {
    touch(keyId) {
      pending.set(keyId, new Date());
      if (pending.size >= maxPending) void flush();
    },
    flush,
    async stop() {
      clearInterval(timer);
      await flush();
    },
  };
}
