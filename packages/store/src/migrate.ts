import { type Kysely, type MigrationResultSet, Migrator } from 'kysely';
import { MigrationFailedError } from './errors.js';
import { MIGRATIONS } from './migrations/index.js';

/** Table recording which migrations ran (kysely's default name would not say whose it is). */
export const MIGRATION_TABLE = 'capstan_migration';
/** Table kysely locks so concurrent migrators (e.g. several replicas starting) run one at a time. */
export const MIGRATION_LOCK_TABLE = 'capstan_migration_lock';

/** What {@link migrateToLatest} did. */
export interface MigrateResult {
  /** Names of the migrations that ran now, in order; empty when the schema was already current. */
  applied: string[];
}

/** One known migration and whether it has run. */
export interface MigrationState {
  /** Migration name, e.g. `0001-bus-dead-letters`. */
  name: string;
  /** When it ran; undefined while pending. */
  appliedAt: Date | undefined;
}

// The migrator only reads the schema-agnostic migration tables, so any Kysely instance will do.
// biome-ignore lint/suspicious/noExplicitAny: kysely's Migrator itself takes Kysely<any>.
function createMigrator(db: Kysely<any>): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: async () => ({ ...MIGRATIONS }) },
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
  });
}

function toResult({ error, results = [] }: MigrationResultSet): MigrateResult {
  if (error !== undefined) {
    const failed = results.find((result) => result.status === 'Error')?.migrationName;
    const message = error instanceof Error ? error.message : String(error);
    throw new MigrationFailedError(
      failed ? `Migration ${failed} failed: ${message}` : `Migrating the database failed: ${message}`,
      { cause: error, migrationName: failed },
    );
  }
  return { applied: results.filter((result) => result.status === 'Success').map((result) => result.migrationName) };
}

/**
 * Runs every pending migration, in name order, under kysely's migration lock. A no-op when the schema is
 * current, so it is safe on every start.
 * @throws {MigrationFailedError} naming the failing migration (on PostgreSQL the whole batch is rolled back).
 */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<MigrateResult> {
  return toResult(await createMigrator(db).migrateToLatest());
}

/** Lists every migration this build knows, with when it ran (undefined = pending). Creates nothing. */
export async function migrationStatus<DB>(db: Kysely<DB>): Promise<MigrationState[]> {
  const migrations = await createMigrator(db).getMigrations();
  return migrations.map(({ name, executedAt }) => ({ name, appliedAt: executedAt }));
}
