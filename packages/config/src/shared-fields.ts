import type { LogLevel } from '@capstan/log';
import { z } from 'zod';
import { field } from './config-field.js';
import {
  DEFAULT_LISTEN_HOST,
  DEFAULT_LOG_LEVEL,
  DEFAULT_NATS_URL,
  DEFAULT_PGLITE_DIR,
  DEFAULT_PORTS,
  DEFAULT_REDIS_URL,
  DEFAULT_S3_REGION,
} from './defaults.js';
import { parseBooleanEnv, parseIntegerEnv, parseListEnv } from './env-parsers.js';
import {
  bucketListSchema,
  databaseUrlSchema,
  hostSchema,
  logLevelSchema,
  natsUrlSchema,
  portSchema,
  redisUrlSchema,
  s3EndpointSchema,
} from './schemas.js';

/** NATS server URL(s). `CAPSTAN_NATS_URL`, falling back to the conventional `NATS_URL`. */
export const natsUrl = field({
  env: ['CAPSTAN_NATS_URL', 'NATS_URL'],
  key: 'nats.url',
  default: DEFAULT_NATS_URL,
  schema: natsUrlSchema,
  expected: 'a NATS URL such as nats://127.0.0.1:4222 (several may be given, comma-separated)',
  doc: 'NATS server(s) the service connects to.',
});

/** Redis URL for payload pointers and counters. */
export const redisUrl = field({
  env: ['CAPSTAN_REDIS_URL', 'REDIS_URL'],
  key: 'redis.url',
  default: DEFAULT_REDIS_URL,
  schema: redisUrlSchema,
  expected: 'a Redis URL such as redis://127.0.0.1:6379 (rediss:// for TLS)',
  doc: 'Redis server used for payload pointers and rate counters.',
});

/** The system-of-record database; empty means the embedded PGlite database. */
export const databaseUrl = field({
  env: ['CAPSTAN_DATABASE_URL', 'DATABASE_URL'],
  key: 'database.url',
  default: '',
  schema: databaseUrlSchema,
  expected: `a postgres://user:pass@host:5432/db URL, pglite://<dir>, pglite:memory, or empty for the embedded PGlite database in ${DEFAULT_PGLITE_DIR}`,
  doc: 'PostgreSQL connection URL; leave empty to use embedded PGlite (development only).',
});

/** S3-compatible object storage for large payloads. */
export const s3 = {
  /** Endpoint of an S3-compatible server; empty uses AWS. */
  endpoint: field({
    env: 'CAPSTAN_S3_ENDPOINT',
    key: 's3.endpoint',
    default: '',
    schema: s3EndpointSchema,
    expected: 'an http(s) URL such as http://127.0.0.1:9000, or empty for AWS',
    doc: 'S3 API endpoint (MinIO, s3rver, ...); empty for AWS S3.',
  }),
  /** Region sent with requests. */
  region: field({
    env: ['CAPSTAN_S3_REGION', 'AWS_REGION'],
    key: 's3.region',
    default: DEFAULT_S3_REGION,
    schema: z.string().regex(/^[a-z0-9-]+$/, 'not a region name'),
    expected: 'a region name such as us-east-1',
    doc: 'S3 region.',
  }),
  /** Buckets pointers may refer to; anything else is rejected (no SSRF through pointers). */
  buckets: field({
    env: 'CAPSTAN_S3_BUCKETS',
    key: 's3.buckets',
    default: [] as string[],
    schema: bucketListSchema,
    fromEnv: parseListEnv,
    expected: 'a comma-separated list of S3 bucket names such as capstan-payloads,capstan-artifacts',
    doc: 'Allow-list of buckets that s3:// pointers may name.',
  }),
  /** Path-style addressing, which MinIO and most self-hosted servers need. */
  forcePathStyle: field({
    env: 'CAPSTAN_S3_FORCE_PATH_STYLE',
    key: 's3.forcePathStyle',
    default: false,
    schema: z.boolean(),
    fromEnv: parseBooleanEnv,
    expected: 'true or false',
    doc: 'Use path-style URLs (http://host/bucket/key); needed by MinIO and other self-hosted servers.',
  }),
};

/** Minimum log level. `CAPSTAN_LOG_LEVEL`, falling back to `LOG_LEVEL`. */
export const logLevel = field<LogLevel>({
  env: ['CAPSTAN_LOG_LEVEL', 'LOG_LEVEL'],
  key: 'log.level',
  default: DEFAULT_LOG_LEVEL,
  schema: logLevelSchema,
  fromEnv: (raw) => raw.trim().toLowerCase(),
  expected: 'one of fatal, error, warn, info, debug, trace, silent',
  doc: 'Minimum level of log lines written.',
});

/** Address servers bind to. */
export const listenHost = field({
  env: 'CAPSTAN_LISTEN_HOST',
  key: 'listen.host',
  default: DEFAULT_LISTEN_HOST,
  schema: hostSchema,
  expected: 'a host name or IP address such as 127.0.0.1 or 0.0.0.0',
  doc: 'Address HTTP/gRPC servers listen on; 0.0.0.0 inside containers.',
});

/** Options for {@link portField}. */
export interface PortFieldOptions {
  /** Environment variable, e.g. `CAPSTAN_GATEWAY_PORT`. */
  env: string;
  /** File key, e.g. `gateway.port`. */
  key: string;
  /** Default port (import it from `DEFAULT_PORTS`). */
  default: number;
  /** What listens on it. */
  doc: string;
}

/** Declares a TCP port setting. */
export function portField(options: PortFieldOptions) {
  return field({
    env: options.env,
    key: options.key,
    default: options.default,
    schema: portSchema,
    fromEnv: parseIntegerEnv,
    expected: 'a TCP port number from 0 to 65535 (0 = any free port)',
    doc: options.doc,
  });
}

/** Gateway HTTP port. */
export const gatewayPort = portField({
  env: 'CAPSTAN_GATEWAY_PORT',
  key: 'gateway.port',
  default: DEFAULT_PORTS.gateway,
  doc: 'Gateway REST/WebSocket port.',
});

/** Safety kernel Connect/gRPC port. */
export const safetyKernelPort = portField({
  env: 'CAPSTAN_SAFETY_KERNEL_PORT',
  key: 'safetyKernel.port',
  default: DEFAULT_PORTS.safetyKernel,
  doc: 'Safety kernel Connect/gRPC port.',
});

/** Gateway metrics port. */
export const gatewayMetricsPort = portField({
  env: 'CAPSTAN_GATEWAY_METRICS_PORT',
  key: 'gateway.metricsPort',
  default: DEFAULT_PORTS.gatewayMetrics,
  doc: 'Gateway Prometheus /metrics and /healthz port (kept off the public API port).',
});

/** Safety kernel metrics port. */
export const safetyKernelMetricsPort = portField({
  env: 'CAPSTAN_SAFETY_KERNEL_METRICS_PORT',
  key: 'safetyKernel.metricsPort',
  default: DEFAULT_PORTS.safetyKernelMetrics,
  doc: 'Safety kernel Prometheus /metrics and /healthz port.',
});

/** Scheduler metrics port. */
export const schedulerMetricsPort = portField({
  env: 'CAPSTAN_SCHEDULER_METRICS_PORT',
  key: 'scheduler.metricsPort',
  default: DEFAULT_PORTS.schedulerMetrics,
  doc: 'Scheduler Prometheus /metrics port.',
});
