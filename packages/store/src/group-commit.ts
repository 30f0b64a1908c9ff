/**
 * Group commit: callers submit items one by one and get their own result, while the writes reach the database in
 * batches. A batch starts as soon as no flush is running (no added latency at low load); while one runs, new items
 * pile up and go together in the next — so batches grow exactly as fast as the database falls behind.
 */
export interface GroupCommitOptions<T, R> {
  /** Writes a batch; must return one result per item, in order. */
  flush: (items: T[]) => Promise<R[]>;
  /** Largest batch; @default 500 */
  maxBatch?: number;
  /** Flushes running at once (≤ the connection pool size); @default 1 */
  maxConcurrent?: number;
  /**
   * While a flush runs, another one starts only once this many items wait; fewer wait for a running flush to end
   * and go in the next, bigger batch. A statement's fixed cost (parse, plan, commit) is most of a small batch's, so
   * at moderate load one flush at a time costs the database much less per item, and the concurrent flushes are
   * kept for when a backlog builds. @default 1 (every free slot starts a flush)
   */
  concurrentAfter?: number;
}

/** A group-commit queue. */
export interface GroupCommit<T, R> {
  /** Queues `item` and resolves with its result once its batch committed (rejects if the batch failed). */
  submit(item: T): Promise<R>;
  /** Resolves when everything queued so far has been flushed. */
  drain(): Promise<void>;
  /** Items waiting + in flight. */
  pending(): number;
}

/** Creates a group-commit queue. */
export function createGroupCommit<T, R>(opts: GroupCommitOptions<T, R>): GroupCommit<T, R> {
  const maxBatch = opts.maxBatch ?? 500;
  const maxConcurrent = opts.maxConcurrent ?? 1;
  const concurrentAfter = Math.max(1, opts.concurrentAfter ?? 1);
  let queue: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  let running = 0;
  let inFlight = 0;
  let drainWaiters: (() => void)[] = [];

  const pump = () => {
    while (running < maxConcurrent && queue.length >= (running === 0 ? 1 : concurrentAfter)) {
      const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
      queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
      running++;
      inFlight += batch.length;
      opts
        .flush(batch.map((b) => b.item))
        .then(
          (results) => {
            for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i] as R);
          },
          (err) => {
            for (const b of batch) b.reject(err);
          },
        )
        .finally(() => {
          running--;
          inFlight -= batch.length;
          if (queue.length > 0) pump();
          else if (running === 0) {
            const waiters = drainWaiters;
            drainWaiters = [];
            for (const w of waiters) w();
          }
        });
    }
  };

  return {
    submit(item) {
      return new Promise<R>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        // Let the current tick's submits join the batch before it starts.
        if (queue.length === 1) queueMicrotask(pump);
        else if (queue.length >= maxBatch || queue.length === concurrentAfter) pump();
      });
    },
    drain() {
      if (queue.length === 0 && running === 0) return Promise.resolve();
      return new Promise((resolve) => drainWaiters.push(resolve));
    },
    pending: () => queue.length + inFlight,
  };
}
