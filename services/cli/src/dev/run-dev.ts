import { ConfigError, loadConfig } from '@capstan/config';
import { createLogger } from '@capstan/log';
import { StoreError } from '@capstan/store';
import type { ExpectedErrorClass } from '../report-error.js';
import { DemoTenantError } from './demo-tenant.js';
import { devConfigSpec } from './dev-config.js';
import { formatReadyLine } from './dev-info.js';
import { MissingExecutableError } from './find-executable.js';
import { PortInUseError } from './ports.js';
import { DevAlreadyRunningError } from './previous-run.js';
import { type DevService, devServices } from './services.js';
import { startDev } from './start-dev.js';
import { PortWaitError } from './wait-for-port.js';

/** Failures of `capstan dev` that are reported without a stack trace. */
export const EXPECTED_DEV_ERRORS: readonly ExpectedErrorClass[] = [
  ConfigError,
  StoreError,
  MissingExecutableError,
  PortInUseError,
  PortWaitError,
  DevAlreadyRunningError,
  DemoTenantError,
];

/** Options of `capstan dev`. */
export interface DevCommandOptions {
  /** Start nats-server and redis-server (false with `--no-infra`). */
  infra: boolean;
  /**
   * Services to start.
   * @default devServices (every registered service)
   */
  services?: readonly DevService[];
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs the dev stack until SIGINT/SIGTERM/SIGHUP, then stops it. A second signal kills the servers at once.
 * Returns the exit code: 0 after a requested stop, 1 when startup failed or a server died.
 */
export async function runDevCommand(options: DevCommandOptions, cwd: string = process.cwd()): Promise<number> {
  const progress = (line: string) => process.stderr.write(`capstan dev: ${line}\n`);
  const config = loadConfig(devConfigSpec, { cwd });
  // Services log to stderr: stdout carries only the CAPSTAN_READY line. Pretty lines when a person watches.
  const loggerFor = (service: string) =>
    createLogger({ service, level: config.logLevel, pretty: process.stderr.isTTY === true, destination: 2 });

  const abort = new AbortController();
  let signalCount = 0;
  let onStopRequested: (signal: string) => void = () => {};
  const stopRequested = new Promise<string>((resolve) => {
    onStopRequested = resolve;
  });
  let forceKill: () => void = () => {};
  const onSignal = (signal: NodeJS.Signals) => {
    signalCount += 1;
    if (signalCount === 1) {
      abort.abort(new Error(`${signal} received during startup`));
      onStopRequested(signal);
    } else {
      progress(`${signal} again: killing everything now`);
      forceKill();
    }
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);

  try {
    let stack: Awaited<ReturnType<typeof startDev>>;
    try {
      stack = await startDev({
        cwd,
        config,
        infra: options.infra,
        services: options.services ?? devServices,
        progress,
        loggerFor,
        signal: abort.signal,
      });
    } catch (error) {
      if (abort.signal.aborted) {
        progress('startup interrupted; everything started so far was stopped');
        return 0;
      }
      throw error;
    }
    // A second signal must end things even if a service's graceful stop hangs: kill the servers and leave.
    forceKill = () =>
      void stack.stop({ kill: true }).finally(() => {
        progress('killed');
        process.exit(1);
      });

    process.stdout.write(`${formatReadyLine(stack.info)}\n`);
    progress(`ready (pid ${process.pid}); press Ctrl-C to stop`);

    const outcome = await Promise.race([
      stopRequested.then((signal) => ({ signal })),
      stack.failed.then((error) => ({ error })),
    ]);
    if ('signal' in outcome) progress(`${outcome.signal} received, stopping`);
    else progress(outcome.error.message);
    await stack.stop();
    progress('stopped');
    return 'error' in outcome ? 1 : 0;
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  }
}
