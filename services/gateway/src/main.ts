#!/usr/bin/env node
import { ConfigError, loadConfig } from '@capstan/config';
import { runServiceMain } from '@capstan/process';
import { gatewayConfigSpec } from './gateway-config.js';
import { startGatewayService } from './start-gateway-service.js';

// The standalone gateway process: `capstan-gateway`. Ctrl-C / SIGTERM drain in-flight requests and exit 0.
await runServiceMain({
  name: 'gateway',
  load: () => loadConfig(gatewayConfigSpec),
  start: (config) => startGatewayService(config),
  explained: (err) => err instanceof ConfigError,
});
