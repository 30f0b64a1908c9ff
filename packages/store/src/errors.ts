/** Base class for every error @capstan/store throws. */
export class StoreError extends Error {
  override name = 'StoreError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The database URL is not one of the accepted forms. */
export class InvalidDatabaseUrlError extends StoreError {
  override name = 'InvalidDatabaseUrlError';
}

/** A {@link CreateDatabaseOptions} value is out of range. */
export class InvalidStoreOptionsError extends StoreError {
  override name = 'InvalidStoreOptionsError';
}

/** A migration failed; on PostgreSQL the whole batch was rolled back (DDL is transactional). */
export class MigrationFailedError extends StoreError {
  override name = 'MigrationFailedError';
  /** Name of the migration that failed, when kysely could tell. */
  readonly migrationName: string | undefined;
  constructor(message: string, options: { cause?: unknown; migrationName?: string }) {
    super(message, options);
    this.migrationName = options.migrationName;
  }
}

/** The database could not be opened or reached. */
export class DatabaseConnectionError extends StoreError {
  override name = 'DatabaseConnectionError';
}
