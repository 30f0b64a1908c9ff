import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { type Dialect, Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { type DatabaseLocation, DEFAULT_PGLITE_DIR, parseDatabaseUrl, redactDatabaseUrl } from './database-url.js';
import { DatabaseConnectionError, InvalidStoreOptionsError } from './errors.js';
import { createPgliteDialect, PGLITE_PARSERS } from './pglite-dialect.js';
import { enablePreparedStatements } from './prepared-statements.js';
import { createKyselyLog, type StoreLogger } from './query-logger.js';
import type { CapstanDatabase } from './schema.js';

/** Options for {@link createDatabase}. */
export interface CreateDatabaseOptions {
  /**
   * Where the data lives: `postgres://user[:password]@host[:port]/database` (or `postgresql://`) for
   * PostgreSQL, `pglite://<directory>` for an embedded PGlite database on disk, `pglite:memory` for a
   * throw-away in-memory one.
   * @default `pglite://.capstan/pglite` (embedded, relative to the working directory)
   */
  url?: string;
  /**
   * Maximum PostgreSQL connections in the pool. Ignored for PGlite, which is a single session.
   * @default 10
   */
  poolSize?: number;
  /**
   * Receives every query (debug) and failed query (error); SQL and timing only, never parameters.
   * @default no logging
   */
  logger?: StoreLogger;
}

/** {@link CreateDatabaseOptions} after defaults and validation. */
export interface ResolvedCreateDatabaseOptions {
  /** Parsed `url`. */
  location: DatabaseLocation;
  /** Pool size for PostgreSQL. */
  poolSize: number;
  /** Optional query logger. */
  logger: StoreLogger | undefined;
}

/** An open database. */
export interface StoreDatabase {
  /** Typed query builder over Capstan's tables. */
  db: Kysely<CapstanDatabase>;
  /** Which backend is behind `db`. */
  kind: 'postgres' | 'pglite';
  /** Closes the pool / PGlite instance. Idempotent. */
  close(): Promise<void>;
}

/** Fills defaults and validates {@link CreateDatabaseOptions}. */
export function resolveCreateDatabaseOptions(options: CreateDatabaseOptions = {}): ResolvedCreateDatabaseOptions {
  const poolSize = options.poolSize ?? 10;
  if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 1_000) {
    throw new InvalidStoreOptionsError(`poolSize: invalid value ${poolSize}; expected an integer from 1 to 1000`);
  }
  return {
    location: parseDatabaseUrl(options.url ?? `pglite://${DEFAULT_PGLITE_DIR}`),
    poolSize,
    logger: options.logger,
  };
}

async function openPostgres(url: string, poolSize: number, logger: StoreLogger | undefined): Promise<Dialect> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  // An idle client losing its connection emits 'error' on the pool; unhandled, that would crash the process.
  pool.on('error', (err) => logger?.error({ err }, 'idle PostgreSQL connection failed'));
  // A checked-out client (mid-transaction, between queries) emits 'error' on itself instead, e.g. when the server
  // restarts; the query in flight fails on its own, so only log here. pg discards the broken client on release.
  pool.on('connect', (client) => {
    client.on('error', (err) => logger?.error({ err }, 'PostgreSQL connection lost while in use'));
  });
  enablePreparedStatements(pool);
  try {
    // Fail here, with the URL in the message, rather than at the first query somewhere else.
    const client = await pool.connect();
    client.release();
  } catch (cause) {
    await pool.end().catch(() => {});
    throw new DatabaseConnectionError(
      `Cannot connect to PostgreSQL at ${redactDatabaseUrl(url)}: ${(cause as Error).message}`,
      { cause },
    );
  }
  return new PostgresDialect({ pool });
}

async function openPglite(dataDir: string | undefined): Promise<Dialect> {
  const where = dataDir === undefined ? 'in memory' : `in ${resolve(dataDir)}`;
  try {
    if (dataDir !== undefined) await mkdir(dataDir, { recursive: true });
    const client = await PGlite.create({ dataDir, parsers: PGLITE_PARSERS });
    return createPgliteDialect(client);
  } catch (cause) {
    throw new DatabaseConnectionError(`Cannot open the PGlite database ${where}: ${(cause as Error).message}`, {
      cause,
    });
  }
}

/**
 * Opens Capstan's database: PostgreSQL (the system of record in production) or embedded PGlite (the
 * zero-dependency default). Checks that PostgreSQL is reachable before returning. Run `migrateToLatest(db)`
 * before using the tables.
 * @throws {InvalidDatabaseUrlError} for a URL that is not one of the accepted forms.
 * @throws {DatabaseConnectionError} when the server can't be reached or the PGlite dir can't be opened.
 */
export async function createDatabase(options?: CreateDatabaseOptions): Promise<StoreDatabase> {
  const { location, poolSize, logger } = resolveCreateDatabaseOptions(options);
  const dialect =
    location.kind === 'postgres'
      ? await openPostgres(location.url, poolSize, logger)
      : await openPglite(location.dataDir);
  const db = new Kysely<CapstanDatabase>({ dialect, log: logger ? createKyselyLog(logger) : undefined });
  let closing: Promise<void> | undefined;
  return {
    db,
    kind: location.kind,
    close() {
      closing ??= db.destroy();
      return closing;
    },
  };
}

/** Runs `SELECT 1`; handy for health checks. */
export async function pingDatabase(db: Kysely<CapstanDatabase>): Promise<void> {
  await sql`SELECT 1`.execute(db);
}

/** True when `SELECT 1` answers: the database part of every service's `/healthz`. */
export function isDatabaseReachable(db: Kysely<CapstanDatabase>): Promise<boolean> {
  return pingDatabase(db).then(
    () => true,
    () => false,
  );
}
