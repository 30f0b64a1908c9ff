/**
 * Keys the vitest global setup passes to test workers (`project.provide` → `inject`). Declared once here so
 * the global setup and {@link testServices} agree on names and types.
 */
declare module 'vitest' {
  export interface ProvidedContext {
    /** `nats://` URL of the shared JetStream-enabled nats-server. */
    natsUrl: string;
    /** `redis://` URL of the shared redis-server. */
    redisUrl: string;
    /** `postgres://` admin URL of the shared PostgreSQL server; use `createTestDatabase` for a private DB. */
    databaseUrl: string;
  }
}

/** The services the global setup provides, keyed as in `ProvidedContext`. */
export interface TestServices {
  /** `nats://` URL of the shared JetStream-enabled nats-server. */
  natsUrl: string;
  /** `redis://` URL of the shared redis-server. */
  redisUrl: string;
  /** `postgres://` admin URL of the shared PostgreSQL server; use `createTestDatabase` for a private DB. */
  databaseUrl: string;
}
