import { PolicyArgumentError } from './errors.js';
import { DEFAULT_MEMORY_VELOCITY_MAX_KEYS } from './limits.js';
import type { VelocityCounter } from './velocity-counter.js';

/** Options of `createMemoryVelocityCounter`. */
export interface MemoryVelocityCounterOptions {
  /**
   * Most keys kept; past it the least recently hit key is forgotten (its window restarts empty).
   * @default 100000
   */
  maxKeys?: number;
}

interface ResolvedMemoryVelocityCounterOptions {
  maxKeys: number;
}

/** Fills defaults and validates `MemoryVelocityCounterOptions`. */
export function resolveMemoryVelocityCounterOptions(
  options: MemoryVelocityCounterOptions = {},
): ResolvedMemoryVelocityCounterOptions {
  const maxKeys = options.maxKeys ?? DEFAULT_MEMORY_VELOCITY_MAX_KEYS;
  if (!Number.isInteger(maxKeys) || maxKeys < 1) {
    throw new PolicyArgumentError(`maxKeys must be a positive integer; got ${String(maxKeys)}`);
  }
  return { maxKeys };
}

/** An in-memory velocity counter with its introspection for tests and metrics. */
export interface MemoryVelocityCounter extends VelocityCounter {
  /** Number of keys currently held. */
  readonly size: number;
}

interface Window {
  /** Hit times, oldest first; at most `limit + 1` of them. */
  times: number[];
  windowMs: number;
}

/**
 * A sliding-window counter for one process. Memory is bounded: each key keeps at most `limit + 1` timestamps
 * (enough to decide "exceeded"), keys are evicted least-recently-hit first past `maxKeys`, and expired keys at the
 * old end are swept as new hits arrive.
 */
export function createMemoryVelocityCounter(options?: MemoryVelocityCounterOptions): MemoryVelocityCounter {
  const { maxKeys } = resolveMemoryVelocityCounterOptions(options);
  // Map iteration order is insertion order; re-inserting on every hit makes it least-recently-hit order.
  const windows = new Map<string, Window>();

  const sweep = (now: number) => {
    for (const [key, w] of windows) {
      const last = w.times[w.times.length - 1];
      if (last !== undefined && last > now - w.windowMs) break;
      windows.delete(key);
    }
  };

  return {
    get size() {
      return windows.size;
    },
    async hit(key, windowMs, limit, { dryRun, now }) {
      const w = windows.get(key) ?? { times: [], windowMs };
      const floor = now - windowMs;
      let drop = 0;
      while (drop < w.times.length && (w.times[drop] as number) <= floor) drop++;
      const live = w.times.length - drop;
      const count = live + 1;
      if (!dryRun) {
        if (drop > 0) w.times.splice(0, drop);
        w.times.push(now);
        if (w.times.length > limit + 1) w.times.splice(0, w.times.length - (limit + 1));
        w.windowMs = windowMs;
        windows.delete(key);
        windows.set(key, w);
        sweep(now);
        while (windows.size > maxKeys) {
          const oldest = windows.keys().next().value as string;
          windows.delete(oldest);
        }
      }
      return { count: Math.min(count, limit + 1), exceeded: count > limit };
    },
  };
}
