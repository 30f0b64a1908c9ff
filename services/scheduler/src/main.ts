#!/usr/bin/env node
import { ConfigError, loadConfig } from '@capstan/config';
import { schedulerConfigSpec } from './scheduler-config.js';
import { startSchedulerService } from './start-scheduler-service.js';

// The standalone scheduler process: `capstan-scheduler` (or `capstan scheduler`). Ctrl-C / SIGTERM drain and exit 0.
try {
  const config = loadConfig(schedulerConfigSpec);
  const service = await startSchedulerService(config);
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
  console.error(err instanceof ConfigError ? err.message : `scheduler failed to start: ${(err as Error).message}`);
  process.exit(1);
}
