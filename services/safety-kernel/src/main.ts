#!/usr/bin/env node
import { ConfigError, loadConfig } from '@capstan/config';
import { runServiceMain } from '@capstan/process';
import { PolicyFileError } from './errors.js';
import { safetyKernelConfigSpec } from './safety-kernel-config.js';
import { startSafetyKernelService } from './start-safety-kernel-service.js';

// The standalone safety kernel: `capstan-safety-kernel`. Ctrl-C / SIGTERM finish in-flight RPCs and exit 0.
await runServiceMain({
  name: 'safety kernel',
  load: () => loadConfig(safetyKernelConfigSpec),
  start: (config) => startSafetyKernelService(config),
  explained: (err) => err instanceof ConfigError || err instanceof PolicyFileError,
});
