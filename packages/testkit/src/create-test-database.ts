import pg from 'pg';
import { TestkitArgumentError } from './errors.js';
import { uniqueName } from './unique-name.js';

/** PostgreSQL truncates identifiers beyond this many bytes, which would make two names collide. */
const MAX_IDENTIFIER_LENGTH = 63;

/** A database made for one test (file); `drop()` removes it. */
export interface TestDatabase {
  /** Connection URL of the new database (the admin URL with the database name swapped). */
  url: string;
  /** The database name. */
  name: string;
  /** Drops the database, disconnecting any session still using it. Idempotent. */
  drop(): Promise<void>;
}

async function runAdminStatement(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Creates an empty database with a unique name on the server behind `adminUrl`, so tests that share one
 * PostgreSQL server (see `testServices().databaseUrl`) never see each other's tables.
 * @param adminUrl `postgres://` URL of a role allowed to CREATE DATABASE.
 * @param prefix start of the database name: letters, digits, `_`.
 * @default prefix `capstan_test`
 */
export async function createTestDatabase(adminUrl: string, prefix = 'capstan_test'): Promise<TestDatabase> {
  let url: URL;
  try {
    url = new URL(adminUrl);
  } catch (cause) {
    throw new TestkitArgumentError(
      `createTestDatabase: invalid admin URL ${JSON.stringify(adminUrl)}; expected postgres://user@host:port/db`,
      { cause },
    );
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new TestkitArgumentError(
      `createTestDatabase: unsupported URL scheme ${JSON.stringify(url.protocol)}; expected postgres:// or postgresql://`,
    );
  }
  const name = uniqueName(prefix).toLowerCase();
  if (name.length > MAX_IDENTIFIER_LENGTH) {
    throw new TestkitArgumentError(
      `createTestDatabase: prefix ${JSON.stringify(prefix)} is too long; the generated name ${name} exceeds ${MAX_IDENTIFIER_LENGTH} characters`,
    );
  }
  // The name comes from uniqueName: only [a-z0-9_], so quoting is enough to make it safe.
  await runAdminStatement(adminUrl, `CREATE DATABASE "${name}"`);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      await runAdminStatement(adminUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    },
  };
}
