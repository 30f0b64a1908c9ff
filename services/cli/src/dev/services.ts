import type { CapstanLogger, LogLevel } from '@capstan/log';
import type { DevDatabase } from '../database.js';
import { echoWorkerDevService } from './echo-worker-dev-service.js';
import { gatewayDevService } from './gateway-dev-service.js';
import { safetyKernelDevService } from './safety-kernel-dev-service.js';
import { schedulerDevService } from './scheduler-dev-service.js';

/** What `capstan dev` hands each service when starting it. */
export interface DevContext {
  /** Address to bind servers to (loopback unless `CAPSTAN_LISTEN_HOST` says otherwise). */
  host: string;
  /** NATS URL of the dev (or, with `--no-infra`, the configured) server. */
  natsUrl: string;
  /** Redis URL of the dev (or configured) server. */
  redisUrl: string;
  /** Database URL (`pglite://…` for the embedded database). */
  databaseUrl: string;
  /**
   * The open, migrated database. Services must use this handle rather than open their own: embedded PGlite
   * allows one connection per directory.
   */
  database: DevDatabase;
  /** Absolute dev data directory (`.capstan`); a service may keep its own files in a subdirectory. */
  dataDir: string;
  /** Log level for the service's logger. */
  logLevel: LogLevel;
  /** A logger writing to stderr (stdout carries only the `CAPSTAN_READY` line). Create children per service. */
  logger: CapstanLogger;
  /**
   * URLs of the services started before this one, by service name, as they appear in `CAPSTAN_READY` — so a
   * service can find those it depends on (the scheduler finds `services['safety-kernel'].url`).
   */
  services: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /**
   * Returns `preferred` when it is free on {@link host}, otherwise a free port — so dev starts even when the
   * default port of a service (e.g. gateway 4001) is taken by something else.
   */
  port(preferred: number): Promise<number>;
}

/** A started service. */
export interface RunningDevService {
  /**
   * URLs it serves, by name (e.g. `{ url: 'http://127.0.0.1:4001' }`), and other facts a developer needs to use
   * it (the echo pool's topic, the gateway's demo API key); shown under its name in `CAPSTAN_READY`.
   */
  urls: Readonly<Record<string, string>>;
  /** Stops it gracefully (drain, close listeners). Called once, in reverse start order. */
  stop(): Promise<void>;
}

/** A service `capstan dev` runs in its own process. */
export interface DevService {
  /** Unique name used in progress lines and as the key in `CAPSTAN_READY.services`. */
  name: string;
  /** Starts the service; resolves once it is ready to serve. */
  start(context: DevContext): Promise<RunningDevService>;
}

/**
 * The services `capstan dev` starts, in order, after NATS, Redis and the database are up (and stops in reverse).
 * The safety kernel comes before the scheduler, which checks every job with it; the gateway comes after the
 * scheduler, so the first REST submit finds it running, and stops before it, draining its requests first.
 */
export const devServices: readonly DevService[] = [
  safetyKernelDevService,
  schedulerDevService,
  gatewayDevService,
  echoWorkerDevService,
];
