import { createTestDatabase, type TestDatabase, testServices } from '@capstan/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type StoreDatabase } from './create-database.js';
import { PGLITE_MEMORY_URL } from './database-url.js';
import { MIGRATION_TABLE, migrateToLatest, migrationStatus } from './migrate.js';
import { MIGRATIONS } from './migrations/index.js';
import type { NewBusDeadLetterRow } from './schema.js';

const ALL_MIGRATIONS = Object.keys(MIGRATIONS).sort();

interface Backend {
  name: 'postgres' | 'pglite';
  open(): Promise<{ store: StoreDatabase; dispose(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'postgres',
    async open() {
      const database: TestDatabase = await createTestDatabase(testServices().databaseUrl, 'store');
      const store = await createDatabase({ url: database.url, poolSize: 4 });
      return {
        store,
        async dispose() {
          await store.close();
          await database.drop();
        },
      };
    },
  },
  {
    name: 'pglite',
    async open() {
      const store = await createDatabase({ url: PGLITE_MEMORY_URL });
      return { store, dispose: () => store.close() };
    },
  },
];

describe.each(backends)('migrations on $name', (backend) => {
  let store: StoreDatabase;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    ({ store, dispose } = await backend.open());
  }, 60_000);
  afterAll(async () => {
    await dispose();
  });

  it('reports every migration pending on an empty database, without creating anything', async () => {
    expect(store.kind).toBe(backend.name);
    const status = await migrationStatus(store.db);
    expect(status).toEqual(ALL_MIGRATIONS.map((name) => ({ name, appliedAt: undefined })));
    const tables = await store.db.introspection.getTables({ withInternalKyselyTables: true });
    expect(tables.map((table) => table.name)).not.toContain(MIGRATION_TABLE);
  });

  it('applies all migrations once; running again is a no-op', async () => {
    expect(await migrateToLatest(store.db)).toEqual({ applied: ALL_MIGRATIONS });
    expect(await migrateToLatest(store.db)).toEqual({ applied: [] });
    const status = await migrationStatus(store.db);
    expect(status.map((s) => s.name)).toEqual(ALL_MIGRATIONS);
    for (const s of status) expect(s.appliedAt).toBeInstanceOf(Date);
    const tables = await store.db.introspection.getTables();
    expect(tables.map((table) => table.name)).toContain('bus_dead_letters');
  });

  it('round-trips a dead letter, bytea included', async () => {
    const original = Uint8Array.from([0x00, 0xde, 0xad, 0xbe, 0xef, 0xff, 0x00, 0x0a]);
    const letter: NewBusDeadLetterRow = {
      subject: 'sys.job.submit',
      code: '101',
      reason: 'MALFORMED_PACKET: not a BusPacket',
      sender_id: 'worker-7',
      trace_id: null,
      consumer: 'scheduler/sys.job.submit',
      original,
    };
    const before = Date.now();
    const { id } = await store.db
      .insertInto('bus_dead_letters')
      .values(letter)
      .returning('id')
      .executeTakeFirstOrThrow();
    expect(id).toMatch(/^\d+$/);

    const row = await store.db
      .selectFrom('bus_dead_letters')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ ...letter, id, original: expect.any(Uint8Array) });
    expect(Buffer.from(row.original).equals(Buffer.from(original))).toBe(true);
    expect(row.received_at).toBeInstanceOf(Date);
    // Clock skew between the test process and the server is zero here (same machine); allow a little slack.
    expect(row.received_at.getTime()).toBeGreaterThanOrEqual(before - 1_000);

    const second = await store.db
      .insertInto('bus_dead_letters')
      .values({ ...letter, original: new Uint8Array() })
      .returning(['id', 'original'])
      .executeTakeFirstOrThrow();
    expect(BigInt(second.id)).toBeGreaterThan(BigInt(id));
    expect(second.original).toHaveLength(0);
  });
});
