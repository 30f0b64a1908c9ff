export { type CapstanLogger, createLogger } from './create-logger.js';
export {
  isLogLevel,
  LOG_LEVELS,
  type LoggerOptions,
  LoggerOptionsError,
  type LogLevel,
  type ResolvedLoggerOptions,
  resolveLoggerOptions,
} from './logger-options.js';
export { type JobLogContext, withJob } from './with-job.js';
