import type { SubmitRecord } from './history.js';
import type { FaultSubmit, JobSubmitter } from './job-submitter.js';

/** A burst of submits in flight; `done` resolves with every record once each was acked or failed. */
export interface SubmitBurst {
  /** Submits acknowledged so far. */
  acked(): number;
  done: Promise<SubmitRecord[]>;
}

/**
 * Submits `count` jobs as fast as `concurrency` submits in flight allow — thousands of jobs in flight when a fault
 * hits. `job(i)` says what the i-th job is.
 */
export function submitBurst(
  submitter: JobSubmitter,
  count: number,
  concurrency: number,
  job: (i: number) => FaultSubmit,
): SubmitBurst {
  const records: SubmitRecord[] = [];
  let next = 0;
  let acked = 0;
  const lane = async () => {
    while (next < count) {
      const r = await submitter.submit(job(next++));
      records.push(r);
      if (r.ackedAt !== undefined) acked++;
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, lane)).then(() => records);
  return { acked: () => acked, done };
}
