import { LRUCache } from 'lru-cache';

/**
 * Remembers the (job_id, epoch) pairs a worker took, so a second delivery of the same dispatch (at-least-once
 * delivery, a scheduler replica re-publishing) runs nothing. Bounded: the oldest pairs are forgotten first, and a
 * re-dispatch after a lease expiry carries a new epoch anyway. Only for leased deliveries (epoch ≥ 1): without a
 * lease a retry looks exactly like a duplicate, so the worker checks the jobs it holds instead.
 */
export interface DeliveryDedupe {
  /** Marks the pair as taken; false when it already was (a duplicate delivery). */
  take(jobId: string, epoch: number): boolean;
  /** Forgets the pair (the job was handed back untouched, so a later delivery of it may run). */
  forget(jobId: string, epoch: number): void;
  /** Pairs remembered. */
  readonly size: number;
}

/** Creates a {@link DeliveryDedupe} remembering at most `max` pairs. */
export function createDeliveryDedupe(max: number): DeliveryDedupe {
  const taken = new LRUCache<string, true>({ max });
  return {
    take(jobId, epoch) {
      const key = keyOf(jobId, epoch);
      if (taken.has(key)) return false;
      taken.set(key, true);
      return true;
    },
    forget(jobId, epoch) {
      taken.delete(keyOf(jobId, epoch));
    },
    get size() {
      return taken.size;
    },
  };
}

/** The epoch has no space, so the last space splits a key back into one pair: keys of different pairs never collide. */
function keyOf(jobId: string, epoch: number): string {
  return `${jobId} ${epoch}`;
}
