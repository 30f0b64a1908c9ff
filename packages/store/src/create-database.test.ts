import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, freePort, testServices } from '@capstan/testkit';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, pingDatabase, resolveCreateDatabaseOptions, type StoreDatabase } from './create-database.js';
import { DEFAULT_PGLITE_DIR } from './database-url.js';
import { DatabaseConnectionError, InvalidDatabaseUrlError, InvalidStoreOptionsError } from './errors.js';
import { migrateToLatest } from './migrate.js';
import type { StoreLogger } from './query-logger.js';

describe('resolveCreateDatabaseOptions', () => {
  it('defaults to embedded PGlite in .capstan/pglite with a pool of 10', () => {
    expect(resolveCreateDatabaseOptions()).toEqual({
      location: { kind: 'pglite', dataDir: DEFAULT_PGLITE_DIR },
      poolSize: 10,
      logger: undefined,
    });
  });

  it('rejects a bad pool size and a bad URL, naming what is accepted', () => {
    expect(() => resolveCreateDatabaseOptions({ poolSize: 0 })).toThrow(InvalidStoreOptionsError);
    expect(() => resolveCreateDatabaseOptions({ poolSize: 1.5 })).toThrow(/expected an integer from 1 to 1000/);
    expect(() => resolveCreateDatabaseOptions({ url: 'mysql://db/x' })).toThrow(InvalidDatabaseUrlError);
    expect(() => resolveCreateDatabaseOptions({ url: 'mysql://db/x' })).toThrow(/pglite:memory/);
  });
});

describe('createDatabase', () => {
  it('fails fast with a clear error, and no password, when PostgreSQL is unreachable', async () => {
    const port = await freePort();
    const attempt = createDatabase({ url: `postgres://capstan:s3cret@127.0.0.1:${port}/capstan` });
    await expect(attempt).rejects.toThrow(DatabaseConnectionError);
    await attempt.catch((error: Error) => {
      expect(error.message).toContain(
        `Cannot connect to PostgreSQL at postgres://capstan:***@127.0.0.1:${port}/capstan`,
      );
      expect(error.message).not.toContain('s3cret');
    });
  });

  it('survives a PostgreSQL connection dying while a client is checked out (server restart, admin kill)', async () => {
    const testDb = await createTestDatabase(testServices().databaseUrl, 'store_err');
    const lost: string[] = [];
    const logger: StoreLogger = {
      debug: () => {},
      error: (_fields, message) => {
        if (message.includes('lost while in use')) lost.push(message);
      },
    };
    const store = await createDatabase({ url: testDb.url, logger });
    const admin = await createDatabase({ url: testDb.url });
    try {
      // A transaction holds its client between queries; kill that backend from another session meanwhile.
      const tx = store.db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        await sql`select pg_terminate_backend(${rows[0]!.pid})`.execute(admin.db);
        await new Promise((r) => setTimeout(r, 200)); // the 'error' event arrives while the client is checked out
        await sql`select 1`.execute(trx);
      });
      await expect(tx).rejects.toThrow();
      expect(lost.length).toBeGreaterThan(0);
      // The pool replaces the broken client: the next query works.
      const { rows } = await sql<{ one: number }>`select 1 as one`.execute(store.db);
      expect(rows[0]!.one).toBe(1);
    } finally {
      await store.close();
      await admin.close();
      await testDb.drop();
    }
  });

  // 60 s: PGlite's initdb runs in WebAssembly, which takes seconds on a busy 2-core machine.
  it('keeps PGlite data on disk across close and reopen', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'capstan-store-'));
    try {
      const url = `pglite://${join(dir, 'nested', 'pglite')}`;
      const first = await createDatabase({ url });
      await migrateToLatest(first.db);
      await first.db
        .insertInto('bus_dead_letters')
        .values({ subject: 's', code: '1', reason: 'r', consumer: 'c', original: Uint8Array.of(7) })
        .execute();
      await first.close();
      await first.close(); // idempotent

      const second = await createDatabase({ url });
      expect(await migrateToLatest(second.db)).toEqual({ applied: [] });
      const rows = await second.db.selectFrom('bus_dead_letters').select(['subject', 'original']).execute();
      expect(rows).toEqual([{ subject: 's', original: Uint8Array.of(7) }]);
      await second.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('createDatabase with in-memory PGlite', () => {
  // One instance for the whole block: each PGlite start runs initdb in WebAssembly (seconds).
  const entries: { level: string; fields: Record<string, unknown> }[] = [];
  const logger: StoreLogger = {
    debug: (fields) => entries.push({ level: 'debug', fields }),
    error: (fields) => entries.push({ level: 'error', fields }),
  };
  let store: StoreDatabase;
  beforeAll(async () => {
    store = await createDatabase({ url: 'pglite:memory', logger });
  }, 60_000);
  afterAll(async () => {
    await store.close();
  });

  // Regression: kysely-pglite shares PGlite's single session with every caller, so a query issued while a
  // transaction was open ran inside it and was rolled back with it.
  it('a rolled-back transaction does not swallow a concurrent query', async () => {
    await sql`CREATE TABLE t (v text)`.execute(store.db);
    let insideStarted!: () => void;
    const started = new Promise<void>((resolve) => {
      insideStarted = resolve;
    });
    const transaction = store.db
      .transaction()
      .execute(async (trx) => {
        await sql`INSERT INTO t VALUES ('inside')`.execute(trx);
        insideStarted();
        await new Promise((resolve) => setTimeout(resolve, 50));
        throw new Error('roll back');
      })
      .catch((error: Error) => error.message);
    await started;
    const outside = sql`INSERT INTO t VALUES ('outside')`.execute(store.db);
    expect(await transaction).toBe('roll back');
    await outside;
    const { rows } = await sql<{ v: string }>`SELECT v FROM t`.execute(store.db);
    expect(rows).toEqual([{ v: 'outside' }]);
  });

  it('returns int8 as a string, like pg', async () => {
    const { rows } = await sql<{ big: string }>`SELECT 9007199254740993::int8 AS big`.execute(store.db);
    expect(rows).toEqual([{ big: '9007199254740993' }]);
  });

  it('logs SQL and timing, never parameters', async () => {
    entries.length = 0;
    await pingDatabase(store.db);
    await sql`SELECT ${'top-secret'}::text`.execute(store.db);
    await expect(sql`SELECT * FROM no_such_table`.execute(store.db)).rejects.toThrow(/no_such_table/);
    expect(entries.map((e) => e.level)).toEqual(['debug', 'debug', 'error']);
    expect(entries[0]!.fields).toEqual({ sql: 'SELECT 1', durationMs: expect.any(Number) });
    expect(JSON.stringify(entries)).not.toContain('top-secret');
    expect(entries[2]!.fields['err']).toBeInstanceOf(Error);
  });
});
