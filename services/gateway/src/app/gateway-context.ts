import type { Bus } from '@capstan/bus';
import type { CapstanDatabase } from '@capstan/store';
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AgentPresence } from '../agents/agent-presence.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { CredentialChanges } from '../auth/credential-changes.js';
import type { CredentialResolver } from '../auth/credential-resolver.js';
import type { JwtService } from '../auth/jwt-service.js';
import type { KeyUsageTracker } from '../auth/key-usage-tracker.js';
import type { GatewayServiceConfig } from '../gateway-config.js';
import type { JobsContext } from '../jobs/jobs-context.js';
import type { GatewayMetrics } from '../observability/gateway-metrics.js';

/**
 * Everything a route module may use, available as `app.gateway` inside every route module. Built once by
 * `startGatewayService`; add new shared clients here (and build them there) rather than opening connections
 * inside route modules.
 */
export interface GatewayContext extends JobsContext {
  /** The validated service configuration. */
  config: GatewayServiceConfig;
  /** Typed kysely database (PostgreSQL, or the embedded PGlite handle `capstan dev` passes in). */
  db: Kysely<CapstanDatabase>;
  /** Which backend `db` is. */
  storeKind: 'postgres' | 'pglite';
  /** The CAP bus (NATS): publish/subscribe/request/JetStream. */
  bus: Bus;
  /** Shared Redis client (rate limits; payload pointers). Fails fast while disconnected (no offline queue). */
  redis: Redis;
  /** Service logger; prefer `request.log` inside handlers (it carries the trace id). */
  logger: Logger;
  /** Issues and verifies JWTs. */
  jwt: JwtService;
  /** Resolves API keys and JWTs to an auth context (rows cached for `credentialCacheMs`). */
  credentials: CredentialResolver;
  /** Call `announce()` after changing keys or users, so no replica keeps using a cached credential. */
  credentialChanges: CredentialChanges;
  /** Batched API-key `last_used_at`. */
  keyUsage: KeyUsageTracker;
  /** The append-only audit log. */
  audit: AuditLog;
  /** Live worker/agent presence from `sys.heartbeat` and open connections. */
  presence: AgentPresence;
  /** Prometheus metrics of this replica (served on `CAPSTAN_GATEWAY_METRICS_PORT`). */
  metrics: GatewayMetrics;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Shared clients and services of the gateway; see {@link GatewayContext}. */
    gateway: GatewayContext;
  }
}
