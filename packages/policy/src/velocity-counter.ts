/**
 * Sliding-window request counting for velocity rules. Implementations: `createMemoryVelocityCounter` (one process)
 * and `createRedisVelocityCounter` (shared by every kernel replica).
 */

/** Options of one `VelocityCounter.hit` call. */
export interface VelocityHitOptions {
  /** Read the count as if this request were added, but do not record it (Evaluate / Explain semantics). */
  dryRun: boolean;
  /** Current time in ms since the epoch; the window is `(now - windowMs, now]`. */
  now: number;
}

/** Result of one `VelocityCounter.hit` call. */
export interface VelocityHit {
  /**
   * Requests in the window including this one. Counters keep at most `limit + 1` entries per key (enough to
   * decide), so the count saturates at `limit + 1`.
   */
  count: number;
  /** True when `count > limit`. */
  exceeded: boolean;
}

/** Counts requests per key in a sliding window. */
export interface VelocityCounter {
  /** Records one request for `key` (unless `dryRun`) and says whether the key now exceeds `limit` in the window. */
  hit(key: string, windowMs: number, limit: number, opts: VelocityHitOptions): Promise<VelocityHit>;
}
