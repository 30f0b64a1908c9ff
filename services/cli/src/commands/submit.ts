import type { Command } from 'commander';
import { reportError } from '../report-error.js';
import type { SubmitCommandOptions } from '../submit/run-submit.js';

/** `capstan submit --topic job.echo --input '{...}'`. */
export function registerSubmitCommand(program: Command): void {
  program
    .command('submit')
    .description('submit a job and wait for its result, showing progress (exit 0 only if it SUCCEEDED)')
    .requiredOption('-t, --topic <topic>', 'job subject, e.g. job.echo')
    .option('-i, --input <json>', 'job input: JSON text, @file.json, or - for stdin (e.g. \'{"text":"hi"}\')')
    .option('--tenant <id>', 'tenant of the job (default: "default")')
    .option('--idempotency-key <key>', 'a second submit with the same key in the tenant returns the first job')
    .option('--priority <level>', 'interactive, batch or critical')
    .option('-l, --label <key=value...>', 'job labels (repeatable)')
    .option('--timeout <ms>', 'how long to wait for the result', '60000')
    .option('--no-wait', 'print the job id and return without waiting')
    .option(
      '--nats-url <url>',
      'NATS server (default: $CAPSTAN_NATS_URL, the running `capstan dev`, or nats://127.0.0.1:4222)',
    )
    .option(
      '--redis-url <url>',
      'Redis for the input pointer (default: $CAPSTAN_REDIS_URL, the running `capstan dev`, or redis://127.0.0.1:6379)',
    )
    .action(async (options: SubmitCommandOptions) => {
      const { runSubmitCommand, EXPECTED_SUBMIT_ERRORS } = await import('../submit/run-submit.js');
      try {
        await runSubmitCommand(options);
      } catch (error) {
        reportError('submit', error, EXPECTED_SUBMIT_ERRORS);
      }
    });
}
