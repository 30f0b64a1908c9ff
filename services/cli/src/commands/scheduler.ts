import type { Command } from 'commander';
import { reportError } from '../report-error.js';

/** `capstan scheduler`: one scheduler replica, configured from the environment (see docs/deployment.md). */
export function registerSchedulerCommand(program: Command): void {
  program
    .command('scheduler')
    .description(
      'run a scheduler replica (CAPSTAN_NATS_URL, CAPSTAN_DATABASE_URL, CAPSTAN_ROUTING_FILE, ...); Ctrl-C drains',
    )
    .action(async () => {
      const [{ ConfigError, loadConfig }, { schedulerConfigSpec, startSchedulerService }] = await Promise.all([
        import('@capstan/config'),
        import('@capstan/scheduler-service'),
      ]);
      try {
        const service = await startSchedulerService(loadConfig(schedulerConfigSpec));
        process.stderr.write(`scheduler ${service.scheduler.id} running; metrics at ${service.metricsUrl}/metrics\n`);
        await new Promise<void>((resolve) => {
          const stop = () => void service.stop().then(resolve, resolve);
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      } catch (error) {
        reportError('scheduler', error, [ConfigError]);
      }
    });
}
