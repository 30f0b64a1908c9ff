import { createTestDatabase, testServices } from '@capstan/testkit';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createDatabase, type StoreDatabase } from './create-database.js';
import { PGLITE_MEMORY_URL } from './database-url.js';
import { createStatisticsKeeper } from './table-statistics.js';

const disposers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const dispose of disposers.splice(0)) await dispose();
});

async function openPostgres(): Promise<StoreDatabase> {
  const database = await createTestDatabase(testServices().databaseUrl, 'stats');
  const store = await createDatabase({ url: database.url, poolSize: 2 });
  disposers.push(async () => {
    await store.close();
    await database.drop();
  });
  return store;
}

async function openPglite(): Promise<StoreDatabase> {
  const store = await createDatabase({ url: PGLITE_MEMORY_URL });
  disposers.push(() => store.close());
  return store;
}

/** A table with a primary key, and the plan Postgres picks for a prepared lookup of a few keys through unnest. */
async function growingTable(store: StoreDatabase) {
  await sql`CREATE TABLE grow (id text PRIMARY KEY, v int NOT NULL)`.execute(store.db);
  return {
    insert: (from: number, n: number) =>
      sql`INSERT INTO grow SELECT 'k' || g, g FROM generate_series(${from}::int, ${from + n - 1}::int) AS g`.execute(
        store.db,
      ),
    /** Rows in pg_stat_user_tables' counters, once the backend has reported them (at most ~1 s later). */
    counters: async () =>
      (
        await sql<{ analyzed: boolean; modified: string }>`
          SELECT (last_analyze IS NOT NULL) AS analyzed, n_mod_since_analyze::text AS modified
          FROM pg_stat_user_tables WHERE relname = 'grow'`.execute(store.db)
      ).rows[0],
  };
}

async function flushStats(store: StoreDatabase) {
  // Backends report their counters at most once a second; pg_stat_force_next_flush (PG 15+) makes it now.
  await sql`SELECT pg_stat_force_next_flush()`.execute(store.db);
}

describe('createStatisticsKeeper (real PostgreSQL)', () => {
  it('analyzes a table once enough rows changed, and not before', async () => {
    const store = await openPostgres();
    const grow = await growingTable(store);
    const keeper = createStatisticsKeeper({ db: store.db, tables: ['grow'], intervalMs: 60_000, minChanges: 500 });
    disposers.push(async () => keeper.stop());

    await grow.insert(1, 100);
    await flushStats(store);
    expect(await keeper.checkNow()).toEqual({ analyzed: [], vacuumed: [] });

    await grow.insert(101, 1000);
    await flushStats(store);
    expect(await keeper.checkNow()).toEqual({ analyzed: ['grow'], vacuumed: [] });
    expect((await grow.counters())?.analyzed).toBe(true);
    // Counted from the ANALYZE on: nothing is due again until the table changes by max(500, 20 %) again.
    await flushStats(store);
    expect(await keeper.checkNow()).toEqual({ analyzed: [], vacuumed: [] });
  });

  it('leaves a table the planner already knows to be large to autovacuum', async () => {
    const store = await openPostgres();
    const grow = await growingTable(store);
    const keeper = createStatisticsKeeper({
      db: store.db,
      tables: ['grow'],
      intervalMs: 60_000,
      minChanges: 500,
      autovacuumAbove: 1000,
    });
    disposers.push(async () => keeper.stop());
    await grow.insert(1, 2000);
    await flushStats(store);
    // The statistics still say "empty": analyzed, so the planner learns the table's size.
    expect(await keeper.checkNow()).toEqual({ analyzed: ['grow'], vacuumed: [] });
    await grow.insert(2001, 2000);
    await flushStats(store);
    // Due by the change count (2,000 ≥ max(500, 20 % of 4,000)), but the statistics already count 2,000 rows.
    expect(Number((await grow.counters())?.modified)).toBeGreaterThanOrEqual(2000);
    expect(await keeper.checkNow()).toEqual({ analyzed: [], vacuumed: [] });
  });

  it('turns a generic plan made on an empty table (a full scan) into an index lookup', async () => {
    const store = await openPostgres();
    const grow = await growingTable(store);
    const keeper = createStatisticsKeeper({ db: store.db, tables: ['grow'], intervalMs: 60_000, minChanges: 500 });
    disposers.push(async () => keeper.stop());
    // One connection, so the prepared statement and its cached plan are the ones we look at.
    await store.db.connection().execute(async (conn) => {
      await sql`SET plan_cache_mode = force_generic_plan`.execute(conn);
      await sql`PREPARE lookup(text[]) AS UPDATE grow AS g SET v = g.v + 1 FROM unnest($1) AS u(id) WHERE g.id = u.id`.execute(
        conn,
      );
      const plan = async () =>
        (await sql<{ 'QUERY PLAN': string }>`EXPLAIN EXECUTE lookup('{k1,k2}')`.execute(conn)).rows
          .map((r) => r['QUERY PLAN'])
          .join('\n');
      expect(await plan()).toMatch(/Seq Scan on grow/);
      await grow.insert(1, 20_000);
      await flushStats(store);
      // Still the plan made for the empty table: nothing told Postgres to plan again.
      expect(await plan()).toMatch(/Seq Scan on grow/);
      expect((await keeper.checkNow()).analyzed).toEqual(['grow']);
      expect(await plan()).toMatch(/Index Scan using grow_pkey/);
    });
  });

  it('backs off with one warning when the database user may not ANALYZE the table', async () => {
    const owner = await openPostgres();
    const grow = await growingTable(owner);
    await grow.insert(1, 2000);
    const role = `stats_${Date.now()}`;
    await sql`CREATE ROLE ${sql.id(role)} LOGIN PASSWORD 'p'`.execute(owner.db);
    await sql`GRANT SELECT ON grow TO ${sql.id(role)}`.execute(owner.db);
    const database = (await sql<{ db: string }>`SELECT current_database() AS db`.execute(owner.db)).rows[0]!.db;
    const asRole = new URL(testServices().databaseUrl);
    asRole.username = role;
    asRole.password = 'p';
    asRole.pathname = `/${database}`;
    const guest = await createDatabase({ url: asRole.toString(), poolSize: 1 });
    disposers.unshift(async () => {
      await guest.close();
      await sql`DROP OWNED BY ${sql.id(role)}`.execute(owner.db);
      await sql`DROP ROLE ${sql.id(role)}`.execute(owner.db);
    });
    const warnings: string[] = [];
    const keeper = createStatisticsKeeper({
      db: guest.db,
      tables: ['grow'],
      intervalMs: 60_000,
      minChanges: 10,
      logger: { debug: () => {}, warn: (_fields, message) => warnings.push(message) },
    });
    disposers.push(async () => keeper.stop());
    await flushStats(owner);
    expect(await keeper.checkNow()).toEqual({ analyzed: [], vacuumed: [] });
    expect(await keeper.checkNow()).toEqual({ analyzed: [], vacuumed: [] });
    expect(warnings).toEqual([
      'cannot ANALYZE a table the database user does not own; its statistics are left to autovacuum',
    ]);
  });

  it('runs only while active() says so (the reconciler leader)', async () => {
    const store = await openPostgres();
    const grow = await growingTable(store);
    let leader = false;
    const keeper = createStatisticsKeeper({
      db: store.db,
      tables: ['grow'],
      intervalMs: 60_000,
      minChanges: 10,
      active: () => leader,
    });
    disposers.push(async () => keeper.stop());
    await grow.insert(1, 100);
    await flushStats(store);
    expect(await keeper.checkNow()).toEqual({ analyzed: [], vacuumed: [] });
    leader = true;
    expect(await keeper.checkNow()).toEqual({ analyzed: ['grow'], vacuumed: [] });
  });
});

describe('createStatisticsKeeper (PGlite, no autovacuum)', () => {
  it('vacuums a table whose updates left dead rows, when asked to', async () => {
    const store = await openPglite();
    const grow = await growingTable(store);
    const keeper = createStatisticsKeeper({
      db: store.db,
      tables: ['grow'],
      intervalMs: 60_000,
      minChanges: 100,
      vacuum: true,
    });
    disposers.push(async () => keeper.stop());
    await grow.insert(1, 300);
    await sql`UPDATE grow SET v = v + 1`.execute(store.db);
    await flushStats(store);
    const dead = async () =>
      Number(
        (
          await sql<{
            dead: string;
          }>`SELECT n_dead_tup::text AS dead FROM pg_stat_user_tables WHERE relname = 'grow'`.execute(store.db)
        ).rows[0]?.dead,
      );
    expect(await dead()).toBeGreaterThanOrEqual(300);
    expect(await keeper.checkNow()).toEqual({ analyzed: [], vacuumed: ['grow'] });
    await flushStats(store);
    expect(await dead()).toBe(0);
  });
});
