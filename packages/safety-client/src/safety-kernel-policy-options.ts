import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { InvalidSafetyClientOptionsError } from './errors.js';

/** The active policy snapshot as the client knows it. */
export interface ActiveSnapshot {
  /** Snapshot id (content hash, `@version` when the bundle declares one). */
  snapshotId: string;
  /** Decisions of this snapshot depend only on the request, so they may be cached (PolicyChanged.cacheable). */
  cacheable: boolean;
}

/** Wire protocol spoken to the kernel (it serves all of them on one port). */
export type SafetyKernelProtocol = 'grpc' | 'connect';

/** Circuit-breaker settings. */
export interface SafetyKernelBreakerOptions {
  /** Consecutive failed calls (timeouts, unreachable, internal errors) that open the breaker; @default 5 */
  failureThreshold?: number;
  /** How long the breaker stays open before one trial call is let through (half-open); @default 5000 */
  halfOpenAfterMs?: number;
}

/** Decision-cache settings. */
export interface SafetyKernelCacheOptions {
  /** How long a cached decision is served; 0 disables the cache; @default 10000 */
  ttlMs?: number;
  /** Most decisions kept (least recently used are dropped first); @default 10000 */
  maxEntries?: number;
}

/** Options of `createSafetyKernelPolicy`. */
export interface SafetyKernelPolicyOptions {
  /** Base URL of the safety kernel, e.g. `http://127.0.0.1:50051` (`https://` for TLS). Required. */
  url: string;
  /** `grpc` (HTTP/2) or `connect` (the Connect protocol, binary); @default 'grpc' */
  protocol?: SafetyKernelProtocol;
  /** HTTP version of the Connect protocol (gRPC always uses HTTP/2); @default '1.1' */
  httpVersion?: '1.1' | '2';
  /** Timeout of one Check call; @default 2000 */
  timeoutMs?: number;
  /** @default failureThreshold 5, halfOpenAfterMs 5000 */
  breaker?: SafetyKernelBreakerOptions;
  /** @default ttlMs 10000, maxEntries 10000 */
  cache?: SafetyKernelCacheOptions;
  /**
   * NATS connection to hear `capstan.policy.changed` on (the active snapshot and whether it is cacheable). Without
   * it the client never knows the snapshot is cacheable, so nothing is cached.
   * @default none
   */
  nats?: NatsConnection;
  /**
   * Reads the active snapshot from the system of record (the newest `policy_activations` row): at start, after a
   * NATS reconnect (announcements may have been missed) and when the kernel answers from another snapshot.
   * @default none (only PolicyChanged announcements are used)
   */
  loadActiveSnapshot?: () => Promise<ActiveSnapshot | undefined>;
  /** @default a silent logger */
  logger?: Logger;
  /** Prometheus registry for the client's metrics; @default none (metrics are kept but not exported) */
  registry?: Registry;
}

/** {@link SafetyKernelPolicyOptions} with every default filled in and validated. */
export interface ResolvedSafetyKernelPolicyOptions {
  url: string;
  protocol: SafetyKernelProtocol;
  httpVersion: '1.1' | '2';
  timeoutMs: number;
  breaker: Required<SafetyKernelBreakerOptions>;
  cache: Required<SafetyKernelCacheOptions>;
  nats: NatsConnection | undefined;
  loadActiveSnapshot: (() => Promise<ActiveSnapshot | undefined>) | undefined;
  logger: Logger | undefined;
  registry: Registry | undefined;
}

/** Defaults of {@link SafetyKernelPolicyOptions}, defined once. */
export const SAFETY_CLIENT_DEFAULTS = {
  protocol: 'grpc',
  httpVersion: '1.1',
  timeoutMs: 2000,
  failureThreshold: 5,
  halfOpenAfterMs: 5000,
  cacheTtlMs: 10_000,
  cacheMaxEntries: 10_000,
} as const;

function integer(name: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min) {
    throw new InvalidSafetyClientOptionsError(
      `${name} is ${JSON.stringify(value)}: expected an integer ≥ ${min}${name.endsWith('Ms') ? ' (milliseconds)' : ''}`,
    );
  }
  return v;
}

/** Fills defaults and validates; throws {@link InvalidSafetyClientOptionsError} naming the wrong option. */
export function resolveSafetyKernelPolicyOptions(o: SafetyKernelPolicyOptions): ResolvedSafetyKernelPolicyOptions {
  let parsed: URL;
  try {
    parsed = new URL(o.url);
  } catch {
    throw new InvalidSafetyClientOptionsError(
      `url ${JSON.stringify(o.url)} is not a URL: expected the safety kernel's base URL, e.g. http://127.0.0.1:50051`,
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new InvalidSafetyClientOptionsError(
      `url ${JSON.stringify(o.url)} has protocol ${parsed.protocol}: expected http:// or https://, e.g. http://127.0.0.1:50051`,
    );
  }
  const protocol = o.protocol ?? SAFETY_CLIENT_DEFAULTS.protocol;
  if (protocol !== 'grpc' && protocol !== 'connect') {
    throw new InvalidSafetyClientOptionsError(
      `protocol ${JSON.stringify(protocol)} is not supported: expected "grpc" or "connect"`,
    );
  }
  const httpVersion = o.httpVersion ?? SAFETY_CLIENT_DEFAULTS.httpVersion;
  if (httpVersion !== '1.1' && httpVersion !== '2') {
    throw new InvalidSafetyClientOptionsError(`httpVersion ${JSON.stringify(httpVersion)}: expected "1.1" or "2"`);
  }
  return {
    url: o.url.replace(/\/+$/, ''),
    protocol,
    httpVersion,
    timeoutMs: integer('timeoutMs', o.timeoutMs, SAFETY_CLIENT_DEFAULTS.timeoutMs, 1),
    breaker: {
      failureThreshold: integer(
        'breaker.failureThreshold',
        o.breaker?.failureThreshold,
        SAFETY_CLIENT_DEFAULTS.failureThreshold,
        1,
      ),
      halfOpenAfterMs: integer(
        'breaker.halfOpenAfterMs',
        o.breaker?.halfOpenAfterMs,
        SAFETY_CLIENT_DEFAULTS.halfOpenAfterMs,
        1,
      ),
    },
    cache: {
      ttlMs: integer('cache.ttlMs', o.cache?.ttlMs, SAFETY_CLIENT_DEFAULTS.cacheTtlMs, 0),
      maxEntries: integer('cache.maxEntries', o.cache?.maxEntries, SAFETY_CLIENT_DEFAULTS.cacheMaxEntries, 1),
    },
    nats: o.nats,
    loadActiveSnapshot: o.loadActiveSnapshot,
    logger: o.logger,
    registry: o.registry,
  };
}
