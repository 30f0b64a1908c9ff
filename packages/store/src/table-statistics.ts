import { type Kysely, sql } from 'kysely';

/** Options for {@link createStatisticsKeeper}. */
export interface StatisticsKeeperOptions<DB = unknown> {
  /** Any kysely database (its schema does not matter: only catalog views and ANALYZE/VACUUM are used). */
  db: Kysely<DB>;
  /** Tables to keep analyzed (plain names in the current schema). */
  tables: readonly string[];
  /** How often to look at the tables' counters (one catalog query); @default 2000 */
  intervalMs?: number;
  /** Changes since the last ANALYZE (or dead rows, for VACUUM) below which nothing runs; @default 1000 */
  minChanges?: number;
  /** …and the share of the table's live rows they must also reach; @default 0.2 */
  fraction?: number;
  /**
   * Also VACUUM tables whose dead rows pass the same threshold: for PGlite, which has no autovacuum, so updated
   * rows would otherwise pile up for ever. Leave it off for PostgreSQL, whose autovacuum does it. @default false
   */
  vacuum?: boolean;
  /**
   * Without `vacuum` (PostgreSQL, which has autovacuum): a table whose statistics already count at least this many
   * rows is left to autovacuum. The plans this keeper protects go wrong only while the planner believes a table is
   * nearly empty; re-analyzing a large table on every 20 % of growth only costs (ANALYZE samples 30,000 rows of
   * every column: under a fast-growing `jobs` table it was a quarter of Postgres's CPU). @default 10000
   */
  autovacuumAbove?: number;
  /** Runs the check only while this says so (e.g. on the reconciler leader: one replica is enough). */
  active?: () => boolean;
  /** A pino logger fits. */
  logger?: StatisticsLogger;
}

/** What the keeper logs with. */
export interface StatisticsLogger {
  debug(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

/** What one check did, per table. */
export interface StatisticsCheck {
  analyzed: string[];
  vacuumed: string[];
}

/** A running statistics keeper. */
export interface StatisticsKeeper {
  /** Looks at the counters now and runs what is due (also what the timer does). */
  checkNow(): Promise<StatisticsCheck>;
  stop(): void;
}

interface TableCounters {
  relname: string;
  live: string | number;
  dead: string | number;
  modified: string | number;
  /** Rows the planner's statistics count (`pg_class.reltuples`: -1 or 0 before the first ANALYZE or VACUUM). */
  planned: string | number;
  /** The current user owns the table (or is a superuser): otherwise ANALYZE only warns and skips it. */
  owned: boolean;
}

/**
 * Keeps the planner's statistics of fast-growing tables current, so cached query plans stay right.
 *
 * Why: a prepared statement's generic plan is made once and kept until the table's statistics change. Planned
 * against a nearly empty `jobs` table (a fresh deployment; autovacuum first looks after a minute, PGlite never),
 * the scheduler's commit read the whole table on every batch and slowed down as the table grew. ANALYZE both
 * refreshes the statistics and invalidates such plans. The thresholds mirror autovacuum's (changes ≥ max(min,
 * fraction × live rows)); ANALYZE samples at most 30,000 rows, so it costs milliseconds.
 */
export function createStatisticsKeeper<DB>(options: StatisticsKeeperOptions<DB>): StatisticsKeeper {
  const { db } = options;
  const minChanges = options.minChanges ?? 1000;
  const fraction = options.fraction ?? 0.2;
  const tables = [...options.tables];
  const autovacuumAbove = options.vacuum ? Number.POSITIVE_INFINITY : (options.autovacuumAbove ?? 10_000);
  let running: Promise<StatisticsCheck> | undefined;
  let disabled = false;

  const due = (changes: number, live: number) => changes >= Math.max(minChanges, fraction * live);

  const check = async (): Promise<StatisticsCheck> => {
    const done: StatisticsCheck = { analyzed: [], vacuumed: [] };
    if (disabled || (options.active && !options.active())) return done;
    const { rows } = await sql<TableCounters>`
      SELECT s.relname, s.n_live_tup AS live, s.n_dead_tup AS dead, s.n_mod_since_analyze AS modified,
             c.reltuples AS planned, pg_has_role(c.relowner, 'MEMBER') AS owned
      FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
      WHERE s.schemaname = current_schema() AND s.relname = ANY(${sql.val(tables)}::text[])`.execute(db);
    for (const row of rows) {
      const live = Number(row.live);
      // Identifiers come from our own list, never from the catalog's answer alone.
      const table = tables.find((t) => t === row.relname);
      if (!table) continue;
      if (!row.owned) {
        // ANALYZE of a table one does not own only warns and skips it, so it would run in vain every check.
        disabled = true;
        options.logger?.warn(
          { table },
          'cannot ANALYZE a table the database user does not own; its statistics are left to autovacuum',
        );
        break;
      }
      if (options.vacuum && due(Number(row.dead), live)) {
        await sql`VACUUM (ANALYZE) ${sql.table(table)}`.execute(db);
        done.vacuumed.push(table);
      } else if (due(Number(row.modified), live) && Number(row.planned) < autovacuumAbove) {
        await sql`ANALYZE ${sql.table(table)}`.execute(db);
        done.analyzed.push(table);
      }
    }
    if (done.analyzed.length + done.vacuumed.length > 0)
      options.logger?.debug({ ...done }, 'table statistics refreshed');
    return done;
  };

  const checkNow = () => {
    // One check at a time: a slow VACUUM must not pile up behind the timer.
    running ??= check().finally(() => {
      running = undefined;
    });
    return running;
  };

  const timer = setInterval(() => {
    checkNow().catch((err: unknown) => options.logger?.debug({ err }, 'table statistics check failed'));
  }, options.intervalMs ?? 2000);
  timer.unref();

  return {
    checkNow,
    stop: () => clearInterval(timer),
  };
}
