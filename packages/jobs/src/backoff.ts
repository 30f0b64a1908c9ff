/** Exponential backoff with full jitter, as in the AWS architecture blog's "full jitter". */
export interface BackoffOptions {
  /** Delay scale for the first retry; @default 500 */
  baseMs?: number;
  /** Cap on any delay; @default 30000 */
  maxMs?: number;
  /** Growth per attempt; @default 2 */
  factor?: number;
  /** Fraction of the delay that is randomised (0 = none, 1 = full jitter); @default 0.5 */
  jitter?: number;
}

/**
 * Delay before retry number `retry` (1-based): `min(max, base * factor^(retry-1))`, of which a `jitter` fraction is
 * random, so synchronized failures don't retry in lockstep.
 */
export function backoffDelay(retry: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const base = opts.baseMs ?? 500;
  const max = opts.maxMs ?? 30_000;
  const factor = opts.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, opts.jitter ?? 0.5));
  const raw = Math.min(max, base * factor ** Math.max(0, retry - 1));
  return Math.round(raw * (1 - jitter) + raw * jitter * random());
}
