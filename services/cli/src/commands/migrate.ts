import type { Command } from 'commander';
import type { MigrateCommandOptions } from '../migrate/run-migrate.js';
import { reportError } from '../report-error.js';

/** `capstan migrate [--database-url URL] [--status]`. */
export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('run pending database migrations (DATABASE_URL, or the embedded PGlite database in .capstan/pglite)')
    .option(
      '--database-url <url>',
      'postgres://user:pass@host:5432/db, pglite://<dir> or pglite:memory (default: $CAPSTAN_DATABASE_URL, $DATABASE_URL, else .capstan/pglite)',
    )
    .option('--status', 'list every migration and whether it has run, without running any')
    .action(async (options: MigrateCommandOptions) => {
      // Loaded on use so `capstan --help` and `capstan version` do not pay for the database drivers.
      const { runMigrateCommand, EXPECTED_MIGRATE_ERRORS } = await import('../migrate/run-migrate.js');
      try {
        await runMigrateCommand(options);
      } catch (error) {
        reportError('migrate', error, EXPECTED_MIGRATE_ERRORS);
      }
    });
}
