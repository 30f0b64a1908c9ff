export { ConfigError, type ConfigIssue, type ConfigIssueSource } from './config-error.js';
export {
  type ConfigField,
  type ConfigFieldOptions,
  type ConfigSpec,
  ConfigSpecError,
  defineConfig,
  field,
  type InferConfig,
  isConfigField,
} from './config-field.js';
export { resolveDatabaseUrl } from './database-location.js';
export {
  CONFIG_FILE_ENV,
  DEFAULT_DEV_DIR,
  DEFAULT_LISTEN_HOST,
  DEFAULT_LOG_LEVEL,
  DEFAULT_NATS_URL,
  DEFAULT_PGLITE_DIR,
  DEFAULT_PORTS,
  DEFAULT_REDIS_URL,
  DEFAULT_S3_REGION,
} from './defaults.js';
export { type ConfigFieldDescription, describeConfig } from './describe-config.js';
export { parseBooleanEnv, parseIntegerEnv, parseListEnv } from './env-parsers.js';
export { type LoadConfigOptions, loadConfig } from './load-config.js';
export { ConfigFileError, readConfigFile } from './read-config-file.js';
export {
  bucketListSchema,
  bucketNameSchema,
  databaseUrlSchema,
  hostSchema,
  logLevelSchema,
  natsUrlSchema,
  portSchema,
  redisUrlSchema,
  s3EndpointSchema,
  urlSchema,
} from './schemas.js';
export {
  databaseUrl,
  gatewayMetricsPort,
  gatewayPort,
  listenHost,
  logLevel,
  natsUrl,
  type PortFieldOptions,
  portField,
  redisUrl,
  s3,
  safetyKernelMetricsPort,
  safetyKernelPort,
  schedulerMetricsPort,
} from './shared-fields.js';
export { sharedConfigSpec } from './shared-spec.js';
export { DEFAULT_SIGNATURE_REPLAY_WINDOW_MS, type SignatureConfig, signatureConfigSpec } from './signature-fields.js';
