import { ConfigError, databaseUrl, defineConfig, loadConfig, resolveDatabaseUrl } from '@capstan/config';
import { migrationStatus, redactDatabaseUrl, StoreError } from '@capstan/store';
import { openDatabase, runMigrations } from '../database.js';
import type { ExpectedErrorClass } from '../report-error.js';

/** Failures of `capstan migrate` that are reported without a stack trace. */
export const EXPECTED_MIGRATE_ERRORS: readonly ExpectedErrorClass[] = [ConfigError, StoreError];

/** Configuration of `capstan migrate`. */
export const migrateConfigSpec = defineConfig({ databaseUrl });

/** Options of `capstan migrate`. */
export interface MigrateCommandOptions {
  /** Overrides `CAPSTAN_DATABASE_URL` / `DATABASE_URL`. */
  databaseUrl?: string;
  /** List every migration and whether it ran, instead of running the pending ones. */
  status?: boolean;
}

/**
 * Runs pending migrations and prints what ran (or, with `status`, prints every migration's state); returns the
 * names of the migrations that ran.
 */
export async function runMigrateCommand(
  options: MigrateCommandOptions,
  cwd: string = process.cwd(),
): Promise<string[]> {
  const env =
    options.databaseUrl === undefined ? process.env : { ...process.env, CAPSTAN_DATABASE_URL: options.databaseUrl };
  const config = loadConfig(migrateConfigSpec, { env, cwd });
  const url = resolveDatabaseUrl(config.databaseUrl, cwd);
  const database = await openDatabase(url);
  const where = `${redactDatabaseUrl(url)} (${database.kind})`;
  try {
    if (options.status) {
      const states = await migrationStatus(database.db);
      process.stdout.write(`Migrations of ${where}:\n`);
      for (const state of states) {
        const when = state.appliedAt ? `applied ${state.appliedAt.toISOString()}` : 'pending';
        process.stdout.write(`  ${state.name}  ${when}\n`);
      }
      return [];
    }
    const applied = await runMigrations(database);
    if (applied.length === 0) {
      process.stdout.write(`Database ${where} is up to date; no migrations to run.\n`);
    } else {
      process.stdout.write(`Applied ${applied.length} migration(s) to ${where}:\n`);
      for (const name of applied) process.stdout.write(`  ${name}\n`);
    }
    return applied;
  } finally {
    await database.close();
  }
}
