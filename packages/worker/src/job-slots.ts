/** What {@link JobSlots.offer} did with a job. */
export type SlotAdmission = 'run' | 'queued' | 'full';

/**
 * Admission control for jobs: at most `concurrency` run at once, up to `queueSize` more wait in FIFO order, and
 * anything beyond is refused. Core NATS cannot push back on a publisher, so refusing (and handing the job back)
 * is the only bound a worker has on what it holds.
 */
export interface JobSlots<T> {
  /** Takes a job: `run` (a slot was free and is now taken), `queued`, or `full` (not taken). */
  offer(item: T): SlotAdmission;
  /** Frees a running job's slot; returns the queued job that now takes it (already counted as running), if any. */
  release(): T | undefined;
  /** Removes a queued job (e.g. cancelled before it started); false when it is not queued. */
  remove(item: T): boolean;
  /** Empties the queue and returns what was in it (for a shutdown hand-back). */
  drainQueue(): T[];
  /** Jobs holding a slot. */
  readonly running: number;
  /** Jobs waiting for a slot. */
  readonly queued: number;
  /** Resolves once no job holds a slot. */
  idle(): Promise<void>;
}

/** Creates {@link JobSlots} with `concurrency` slots and a queue of `queueSize`. */
export function createJobSlots<T>(concurrency: number, queueSize: number): JobSlots<T> {
  let running = 0;
  const queue: T[] = [];
  let idleWaiters: (() => void)[] = [];
  const notifyIdle = () => {
    if (running !== 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  };
  return {
    offer(item) {
      if (running < concurrency) {
        running++;
        return 'run';
      }
      if (queue.length < queueSize) {
        queue.push(item);
        return 'queued';
      }
      return 'full';
    },
    release() {
      const next = queue.shift();
      if (next !== undefined) return next;
      running = Math.max(0, running - 1);
      notifyIdle();
      return undefined;
    },
    remove(item) {
      const index = queue.indexOf(item);
      if (index < 0) return false;
      queue.splice(index, 1);
      return true;
    },
    drainQueue() {
      return queue.splice(0, queue.length);
    },
    get running() {
      return running;
    },
    get queued() {
      return queue.length;
    },
    idle() {
      return running === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
  };
}
