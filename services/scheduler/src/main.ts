#!/usr/bin/env node
import { ConfigError, loadConfig } from '@capstan/config';
import { runServiceMain } from '@capstan/process';
import { schedulerConfigSpec } from './scheduler-config.js';
import { startSchedulerService } from './start-scheduler-service.js';

// The standalone scheduler process: `capstan-scheduler` (or `capstan scheduler`). Ctrl-C / SIGTERM drain and exit 0.
await runServiceMain({
  name: 'scheduler',
  load: () => loadConfig(schedulerConfigSpec),
  start: startSchedulerService,
  explained: (err) => err instanceof ConfigError,
});
