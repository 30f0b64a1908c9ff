#!/usr/bin/env node
import { ConfigError, loadConfig } from '@capstan/config';
import { PolicyFileError } from './errors.js';
import { safetyKernelConfigSpec } from './safety-kernel-config.js';
import { startSafetyKernelService } from './start-safety-kernel-service.js';

// The standalone safety kernel: `capstan-safety-kernel`. Ctrl-C / SIGTERM finish in-flight RPCs and exit 0.
try {
  const config = loadConfig(safetyKernelConfigSpec);
  const service = await startSafetyKernelService(config);
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
  console.error(
    err instanceof ConfigError || err instanceof PolicyFileError
      ? err.message
      : `safety kernel failed to start: ${(err as Error).message}`,
  );
  process.exit(1);
}
