import type { Command } from 'commander';
import type { DevCommandOptions } from '../dev/run-dev.js';
import { reportError } from '../report-error.js';

/** `capstan dev [--no-infra]`. */
export function registerDevCommand(program: Command): void {
  program
    .command('dev')
    .description(
      'run everything in one process for development: nats-server (JetStream), redis-server, the database ' +
        '(embedded PGlite in .capstan/pglite unless DATABASE_URL is set, migrated) and every Capstan service; ' +
        'prints one line "CAPSTAN_READY {json}" when up',
    )
    .option('--no-infra', 'do not start nats-server and redis-server; use CAPSTAN_NATS_URL and CAPSTAN_REDIS_URL')
    .action(async (options: DevCommandOptions) => {
      // Loaded on use so `capstan --help` and `capstan version` stay fast.
      const { runDevCommand, EXPECTED_DEV_ERRORS } = await import('../dev/run-dev.js');
      let code: number;
      try {
        code = await runDevCommand(options);
      } catch (error) {
        reportError('dev', error, EXPECTED_DEV_ERRORS);
        code = 1;
      }
      // Exit explicitly: a service or driver that left a handle open must not keep a stopped stack alive.
      process.exit(code);
    });
}
