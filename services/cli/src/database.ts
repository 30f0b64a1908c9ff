import { createDatabase, migrateToLatest, type StoreDatabase } from '@capstan/store';

/** An open database as `@capstan/store` returns it. */
export type DevDatabase = StoreDatabase;

/** Opens the database at `url` (`postgres://…`, `pglite://<dir>` or `pglite:memory`). */
export function openDatabase(url: string): Promise<DevDatabase> {
  return createDatabase({ url });
}

/** Runs every pending migration and returns the names of those that ran, in order. */
export async function runMigrations(database: DevDatabase): Promise<string[]> {
  return (await migrateToLatest(database.db)).applied;
}
