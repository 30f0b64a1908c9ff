/**
 * Serializes work per key (per job): a result, a progress update and a cancel for the same job on one replica run
 * one after the other, so they don't fail each other's compare-and-set for nothing. Different keys run in parallel.
 */
export interface KeyedMutex {
  run<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /** Keys with work queued or running. */
  size(): number;
  /** Whether `key` has work queued or running. */
  held(key: string): boolean;
}

/** Creates a keyed mutex whose memory is released as soon as a key is idle. */
export function createKeyedMutex(): KeyedMutex {
  const tails = new Map<string, Promise<unknown>>();
  return {
    run(key, fn) {
      const prev = tails.get(key) ?? Promise.resolve();
      const next = prev.then(fn, fn);
      const tail = next.catch(() => {});
      tails.set(key, tail);
      void tail.then(() => {
        if (tails.get(key) === tail) tails.delete(key);
      });
      return next;
    },
    size: () => tails.size,
    held: (key) => tails.has(key),
  };
}
