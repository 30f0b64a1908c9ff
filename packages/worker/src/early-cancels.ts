/**
 * Remembers the jobs cancelled while this worker did not hold them. A cancel is broadcast on `sys.job.cancel` at the
 * moment the scheduler may be publishing the job's dispatch, so a worker can hear the cancel before the delivery it
 * targets; without this record the cancel would be dropped and the job would run to the end. Bounded in count and in
 * age (a Map keeps insertion order, so the oldest entries sit at its front): no timer per job.
 */
export interface EarlyCancels {
  /** Records a cancel of `jobId` (again: refreshed, with the newer reason). */
  add(jobId: string, reason: string, requestedBy: string): void;
  /** The cancel recorded for `jobId` within the last `ttlMs`, if any. */
  get(jobId: string): EarlyCancel | undefined;
  /** Cancels remembered (expired ones may still count until the next `add` or `get`). */
  readonly size: number;
}

/** A cancel heard before the job's delivery. */
export interface EarlyCancel {
  readonly reason: string;
  readonly requestedBy: string;
  /** When it was heard, ms since the epoch. */
  readonly at: number;
}

/** At most 10,000 jobs, each kept 60 s: far longer than a dispatch and its cancel can be apart. */
export const EARLY_CANCELS_MAX = 10_000;
export const EARLY_CANCELS_TTL_MS = 60_000;

/** Creates an {@link EarlyCancels} keeping at most `max` jobs, each for `ttlMs`. */
export function createEarlyCancels(
  max = EARLY_CANCELS_MAX,
  ttlMs = EARLY_CANCELS_TTL_MS,
  now: () => number = Date.now,
): EarlyCancels {
  const cancels = new Map<string, EarlyCancel>();
  /** Drops expired entries and, beyond `max`, the oldest ones: both sit at the front of the Map. */
  const prune = (t: number) => {
    for (const [jobId, cancel] of cancels) {
      if (cancels.size <= max && t - cancel.at < ttlMs) break;
      cancels.delete(jobId);
    }
  };
  return {
    add(jobId, reason, requestedBy) {
      const t = now();
      // Delete first so a repeated cancel moves to the back and stays the full ttl.
      cancels.delete(jobId);
      cancels.set(jobId, { reason, requestedBy, at: t });
      prune(t);
    },
    get(jobId) {
      const t = now();
      prune(t);
      return cancels.get(jobId);
    },
    get size() {
      return cancels.size;
    },
  };
}
