/**
 * Every default port, URL and path Capstan uses, defined once. Services, the CLI, docker-compose docs and tests
 * import these instead of repeating literals.
 */

/** Default TCP ports. `capstan dev` prefers these but picks a free port when one is already taken. */
export const DEFAULT_PORTS = Object.freeze({
  /** Gateway REST/WebSocket API. */
  gateway: 4001,
  /** Safety kernel Connect/gRPC service. */
  safetyKernel: 50051,
  /** Scheduler Prometheus `/metrics`. */
  schedulerMetrics: 9090,
  /** Gateway Prometheus `/metrics` (its own port: the API port is public). */
  gatewayMetrics: 9091,
  /** Safety kernel Prometheus `/metrics` (its own port, beside the RPC port). */
  safetyKernelMetrics: 9092,
  /** NATS client port. */
  nats: 4222,
  /** Redis. */
  redis: 6379,
  /** PostgreSQL. */
  postgres: 5432,
  /** S3-compatible object store (MinIO in docker-compose). */
  s3: 9000,
});

/** Loopback address servers bind to unless told otherwise; containers set `CAPSTAN_LISTEN_HOST=0.0.0.0`. */
export const DEFAULT_LISTEN_HOST = '127.0.0.1';

/** NATS URL used when neither `CAPSTAN_NATS_URL` nor `NATS_URL` is set. */
export const DEFAULT_NATS_URL = `nats://127.0.0.1:${DEFAULT_PORTS.nats}`;

/** Redis URL used when neither `CAPSTAN_REDIS_URL` nor `REDIS_URL` is set. */
export const DEFAULT_REDIS_URL = `redis://127.0.0.1:${DEFAULT_PORTS.redis}`;

/** S3 region used when none is configured; S3-compatible servers accept any region. */
export const DEFAULT_S3_REGION = 'us-east-1';

/** Log level used when none is configured. */
export const DEFAULT_LOG_LEVEL = 'info';

/** Directory (relative to the working directory) where `capstan dev` keeps its data, pids and `dev.json`. */
export const DEFAULT_DEV_DIR = '.capstan';

/** Directory of the embedded PGlite database used when no database URL is configured. */
export const DEFAULT_PGLITE_DIR = `${DEFAULT_DEV_DIR}/pglite`;

/** Environment variable naming an optional YAML or JSON config file. */
export const CONFIG_FILE_ENV = 'CAPSTAN_CONFIG';
