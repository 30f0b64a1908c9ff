import type { DestinationStream } from 'pino';

/** Log levels Capstan accepts, most to least severe; `silent` turns logging off. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Name of the emitting service; written as the `service` field on every line (e.g. `scheduler`). */
  service: string;
  /**
   * Minimum level written. Services pass the value resolved by `@capstan/config` (`CAPSTAN_LOG_LEVEL`).
   * @default 'info'
   */
  level?: LogLevel;
  /**
   * Human-readable, colourless single-line output (pino-pretty) instead of JSON, for local development only.
   * @default false
   */
  pretty?: boolean;
  /**
   * Where lines go: a file descriptor or a pino destination stream (tests capture output this way).
   * @default 1 (stdout)
   */
  destination?: number | DestinationStream;
}

/** {@link LoggerOptions} with every default filled in. */
export interface ResolvedLoggerOptions {
  service: string;
  level: LogLevel;
  pretty: boolean;
  destination: number | DestinationStream;
}

/** Thrown when {@link LoggerOptions} are invalid; the message says which option and what is expected. */
export class LoggerOptionsError extends Error {
  override readonly name = 'LoggerOptionsError';
}

/** Returns true when `value` is one of {@link LOG_LEVELS}. */
export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

/** Fills defaults and validates {@link LoggerOptions} once. */
export function resolveLoggerOptions(options: LoggerOptions): ResolvedLoggerOptions {
  if (typeof options.service !== 'string' || options.service.trim() === '') {
    throw new LoggerOptionsError(
      'Logger option "service" must be a non-empty string naming the service (e.g. "gateway")',
    );
  }
  const level = options.level ?? 'info';
  if (!isLogLevel(level)) {
    throw new LoggerOptionsError(
      `Logger option "level" is ${JSON.stringify(level)}; expected one of ${LOG_LEVELS.join(', ')}`,
    );
  }
  return {
    service: options.service,
    level,
    pretty: options.pretty ?? false,
    destination: options.destination ?? 1,
  };
}
