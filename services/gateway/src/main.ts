#!/usr/bin/env node
import { ConfigError, loadConfig } from '@capstan/config';
import { gatewayConfigSpec } from './gateway-config.js';
import { startGatewayService } from './start-gateway-service.js';

// The standalone gateway process: `capstan-gateway`. Ctrl-C / SIGTERM drain in-flight requests and exit 0.
try {
  const config = loadConfig(gatewayConfigSpec);
  const service = await startGatewayService(config);
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    service.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : `gateway failed to start: ${(err as Error).message}`);
  process.exit(1);
}
