import { type PGlite, types as pgliteTypes } from '@electric-sql/pglite';
import type { DatabaseConnection, Dialect, Driver, TransactionSettings } from 'kysely';
import { KyselyPGlite } from 'kysely-pglite';

/**
 * PGlite parses int8 as a JS number (silently losing precision past 2^53) while pg returns a decimal string.
 * Return strings from both so `CapstanDatabase` types hold on either backend.
 */
export const PGLITE_PARSERS = { [pgliteTypes.INT8]: (value: string) => value };

/** A FIFO lock: one holder at a time, waiters served in arrival order. */
class Mutex {
  #tail: Promise<void> = Promise.resolve();

  /** Resolves with the release function once the lock is held. */
  lock(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const acquired = this.#tail.then(() => release);
    this.#tail = this.#tail.then(() => held);
    return acquired;
  }
}

/**
 * PGlite is a single database session. kysely-pglite hands that one session to every caller at once, so a
 * transaction's BEGIN … COMMIT would capture unrelated queries issued meanwhile. This driver lets one kysely
 * "connection" hold the session at a time (what kysely's own SQLite driver does). Consequence: inside a
 * transaction, query through the transaction object, not the outer `db`, or it waits forever.
 */
class SerializedDriver implements Driver {
  readonly #inner: Driver;
  readonly #mutex = new Mutex();
  readonly #releases = new Map<DatabaseConnection, () => void>();

  constructor(inner: Driver) {
    this.#inner = inner;
  }

  init(): Promise<void> {
    return this.#inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const release = await this.#mutex.lock();
    try {
      const connection = await this.#inner.acquireConnection();
      this.#releases.set(connection, release);
      return connection;
    } catch (error) {
      release();
      throw error;
    }
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    try {
      await this.#inner.releaseConnection(connection);
    } finally {
      this.#releases.get(connection)?.();
      this.#releases.delete(connection);
    }
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.#inner.beginTransaction(connection, settings);
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.commitTransaction(connection);
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.rollbackTransaction(connection);
  }

  destroy(): Promise<void> {
    return this.#inner.destroy();
  }
}

/** A kysely dialect over an open PGlite instance (kysely-pglite's, with session access serialized). */
export function createPgliteDialect(client: PGlite): Dialect {
  const base = new KyselyPGlite(client).dialect;
  return {
    createAdapter: () => base.createAdapter(),
    createDriver: () => new SerializedDriver(base.createDriver()),
    createIntrospector: (db) => base.createIntrospector(db),
    createQueryCompiler: () => base.createQueryCompiler(),
  };
}
