import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from './create-test-database.js';
import { testServices } from './test-services.js';

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

describe('createTestDatabase', () => {
  it('creates an isolated database on the shared server and drops it', async () => {
    const { databaseUrl } = testServices();
    const a = await createTestDatabase(databaseUrl, 'tk');
    const b = await createTestDatabase(databaseUrl, 'tk');
    try {
      expect(a.name).toMatch(/^tk_/);
      expect(a.name).not.toBe(b.name);
      expect(new URL(a.url).pathname).toBe(`/${a.name}`);
      await query(a.url, 'CREATE TABLE only_in_a (x int)');
      const inB = await query<{ t: string | null }>(b.url, "SELECT to_regclass('only_in_a')::text AS t");
      expect(inB).toEqual([{ t: null }]);
    } finally {
      await a.drop();
      await b.drop();
    }
    await a.drop(); // idempotent
    const left = await query(databaseUrl, 'SELECT 1 FROM pg_database WHERE datname = ANY($1)', [[a.name, b.name]]);
    expect(left).toEqual([]);
  });

  it('drops a database that still has open sessions', async () => {
    const db = await createTestDatabase(testServices().databaseUrl);
    const client = new pg.Client({ connectionString: db.url });
    client.on('error', () => {}); // the forced drop terminates this session
    await client.connect();
    await db.drop();
    await expect(client.query('SELECT 1')).rejects.toThrow();
  });

  it('rejects a URL that is not postgres://', async () => {
    await expect(createTestDatabase('mysql://x@127.0.0.1/db')).rejects.toThrow(
      /expected postgres:\/\/ or postgresql:\/\//,
    );
    await expect(createTestDatabase('not a url')).rejects.toThrow(/invalid admin URL/);
  });
});
