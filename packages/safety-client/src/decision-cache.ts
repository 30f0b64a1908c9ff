import { DecisionType, type PolicyCheckResponse } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { LRUCache } from 'lru-cache';

/** Decisions that depend only on the request and the snapshot, so they may be served again. */
const CACHEABLE_DECISIONS: ReadonlySet<DecisionType> = new Set([
  DecisionType.ALLOW,
  DecisionType.ALLOW_WITH_CONSTRAINTS,
  DecisionType.DENY,
]);

/**
 * True for decisions the cache may keep. REQUIRE_HUMAN carries a per-job approval, THROTTLE depends on the
 * moment, and anything unknown is not worth guessing about.
 */
export function isCacheableDecision(decision: DecisionType): boolean {
  return CACHEABLE_DECISIONS.has(decision);
}

/** A bounded, expiring map from `snapshot + request hash` to the kernel's answer. */
export interface DecisionCache {
  get(snapshotId: string, requestHash: string): PolicyCheckResponse | undefined;
  /** Keeps `response` unless its decision is not cacheable. */
  set(snapshotId: string, requestHash: string, response: PolicyCheckResponse): void;
  /** Drops every entry (the active snapshot changed). */
  clear(): void;
  readonly size: number;
}

/** Creates the decision cache (LRU with a TTL). */
export function createDecisionCache(opts: { ttlMs: number; maxEntries: number }): DecisionCache {
  const lru = new LRUCache<string, PolicyCheckResponse>({ max: opts.maxEntries, ttl: opts.ttlMs });
  // The snapshot id cannot contain NUL, so the key is unambiguous.
  const key = (snapshotId: string, hash: string) => `${snapshotId}\u0000${hash}`;
  return {
    get: (snapshotId, hash) => lru.get(key(snapshotId, hash)),
    set(snapshotId, hash, response) {
      if (isCacheableDecision(response.decision)) lru.set(key(snapshotId, hash), response);
    },
    clear: () => lru.clear(),
    get size() {
      return lru.size;
    },
  };
}
