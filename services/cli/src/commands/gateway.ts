import type { Command } from 'commander';
import { reportError } from '../report-error.js';

/** `capstan gateway`: one gateway replica, configured from the environment (see docs/deployment.md). */
export function registerGatewayCommand(program: Command): void {
  program
    .command('gateway')
    .description(
      'run a gateway replica: REST under /v1, WebSocket, SSE (CAPSTAN_GATEWAY_PORT, CAPSTAN_DATABASE_URL, ' +
        'CAPSTAN_NATS_URL, CAPSTAN_REDIS_URL, ...; see docs/gateway.md); Ctrl-C drains',
    )
    .action(async () => {
      // Loaded on use so `capstan --help` and `capstan version` stay fast.
      const [{ ConfigError, loadConfig }, { StoreError }, gateway] = await Promise.all([
        import('@capstan/config'),
        import('@capstan/store'),
        import('@capstan/gateway-service'),
      ]);
      let code = 0;
      try {
        const service = await gateway.startGatewayService(loadConfig(gateway.gatewayConfigSpec));
        process.stderr.write(`gateway serving ${service.url}/v1 (API reference at ${service.url}/docs)\n`);
        process.stderr.write(`gateway metrics at ${service.metricsUrl}/metrics\n`);
        await new Promise<void>((resolve) => {
          const stop = () => void service.stop().then(resolve, resolve);
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      } catch (error) {
        reportError('gateway', error, [ConfigError, StoreError, gateway.GatewayStartError]);
        code = 1;
      }
      // Exit explicitly: a driver that left a handle open must not keep a stopped gateway alive.
      process.exit(code);
    });
}
