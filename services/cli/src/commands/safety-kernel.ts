import type { Command } from 'commander';
import { reportError } from '../report-error.js';

/** `capstan safety-kernel`: one safety-kernel replica, configured from the environment (see docs/deployment.md). */
export function registerSafetyKernelCommand(program: Command): void {
  program
    .command('safety-kernel')
    .description(
      'run a safety-kernel replica (CAPSTAN_POLICY_FILE, CAPSTAN_SAFETY_KERNEL_PORT, CAPSTAN_NATS_URL, ' +
        'CAPSTAN_REDIS_URL, CAPSTAN_DATABASE_URL, ...; see docs/policy.md); Ctrl-C stops',
    )
    .action(async () => {
      // Loaded on use so `capstan --help` and `capstan version` stay fast.
      const [{ ConfigError, loadConfig }, { StoreError }, kernel] = await Promise.all([
        import('@capstan/config'),
        import('@capstan/store'),
        import('@capstan/safety-kernel-service'),
      ]);
      let code = 0;
      try {
        const config = loadConfig(kernel.safetyKernelConfigSpec);
        const service = await kernel.startSafetyKernelService(config);
        process.stderr.write(
          `safety kernel serving Connect, gRPC and gRPC-Web at ${service.url}; active snapshot ` +
            `${service.activeSnapshot()}${config.policyFile ? ` (watching ${config.policyFile})` : ''}\n`,
        );
        process.stderr.write(`safety kernel metrics at ${service.metricsUrl}/metrics\n`);
        await new Promise<void>((resolve) => {
          const stop = () => void service.stop().then(resolve, resolve);
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      } catch (error) {
        reportError('safety-kernel', error, [ConfigError, StoreError, kernel.SafetyKernelError]);
        code = 1;
      }
      // Exit explicitly: a driver that left a handle open must not keep a stopped kernel alive.
      process.exit(code);
    });
}
