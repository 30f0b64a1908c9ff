/**
 * @capstan/store — durable state: a typed kysely database over PostgreSQL (or embedded PGlite) and the
 * versioned migrations that create Capstan's tables.
 */
export {
  type CreateDatabaseOptions,
  createDatabase,
  isDatabaseReachable,
  pingDatabase,
  type ResolvedCreateDatabaseOptions,
  resolveCreateDatabaseOptions,
  type StoreDatabase,
} from './create-database.js';
export { isDatabaseUnavailable } from './database-unavailable.js';
export {
  ACCEPTED_DATABASE_URLS,
  type DatabaseLocation,
  DEFAULT_PGLITE_DIR,
  PGLITE_MEMORY_URL,
  parseDatabaseUrl,
  redactDatabaseUrl,
} from './database-url.js';
export {
  DatabaseConnectionError,
  InvalidDatabaseUrlError,
  InvalidStoreOptionsError,
  MigrationFailedError,
  StoreError,
} from './errors.js';
export { createGroupCommit, type GroupCommit, type GroupCommitOptions } from './group-commit.js';
export {
  MIGRATION_LOCK_TABLE,
  MIGRATION_TABLE,
  type MigrateResult,
  type MigrationState,
  migrateToLatest,
  migrationStatus,
} from './migrate.js';
export { PREPARE_MARKER, preparedSql } from './prepared-statements.js';
export type { StoreLogger } from './query-logger.js';
export type {
  BusDeadLetterRow,
  BusDeadLettersTable,
  CapstanDatabase,
  NewBusDeadLetterRow,
  PolicyActivationsTable,
  PolicyApprovalsTable,
  PolicyDecisionsTable,
  PolicySnapshotsTable,
} from './schema.js';
export {
  createStatisticsKeeper,
  type StatisticsCheck,
  type StatisticsKeeper,
  type StatisticsKeeperOptions,
  type StatisticsLogger,
} from './table-statistics.js';
