/**
 * @capstan/testkit — real NATS, Redis, PostgreSQL and S3 servers for tests, on free loopback ports with temp
 * data dirs, stopped by PID (and killed on process exit at the latest).
 */
export { createTestDatabase, type TestDatabase } from './create-test-database.js';
export {
  MissingBinaryError,
  MissingTestServiceError,
  ServerStartError,
  TestkitArgumentError,
  TestkitError,
} from './errors.js';
export { freePort } from './free-port.js';
export type { TestServices } from './provided-context.js';
export type { NatsHandle, ServerHandle } from './server-handle.js';
export { type StartNatsOptions, startNats } from './start-nats.js';
export { type NatsCluster, type StartNatsClusterOptions, startNatsCluster } from './start-nats-cluster.js';
export { type StartPostgresOptions, startPostgres } from './start-postgres.js';
export { type StartRedisOptions, startRedis } from './start-redis.js';
export { type S3Handle, type StartS3Options, startS3 } from './start-s3.js';
export { testServices } from './test-services.js';
export { uniqueName } from './unique-name.js';
