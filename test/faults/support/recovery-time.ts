import type { FaultStack } from './fault-stack.js';
import { TERMINAL_STATES } from './history.js';

/** How long the jobs a fault caught took to finish. */
export interface Recovery {
  /** Longest time from `from` to a job's terminal state; null when some never finished (or none were caught). */
  maxMs: number | null;
  /** The caught jobs that are not terminal. */
  unfinished: string[];
}

/**
 * Recovery of `jobIds` after a fault at `from`, from Postgres (`finished_at`): the system of record, which also knows
 * jobs whose terminal event never reached the bus (a scheduler that died between its commit and the publish).
 */
export async function recoveryAfter(s: FaultStack, jobIds: readonly string[], from: number): Promise<Recovery> {
  if (jobIds.length === 0) return { maxMs: null, unfinished: [] };
  const rows = await s.store.db
    .selectFrom('jobs')
    .select(['job_id', 'state', 'finished_at'])
    .where('job_id', 'in', [...jobIds])
    .execute();
  const done = new Map(
    rows
      .filter((r) => TERMINAL_STATES.includes(r.state) && r.finished_at !== null)
      .map((r) => [r.job_id, r.finished_at!.getTime()]),
  );
  const unfinished = jobIds.filter((id) => !done.has(id));
  const times = [...done.values()].map((t) => Math.max(0, t - from));
  return { maxMs: unfinished.length > 0 || times.length === 0 ? null : Math.max(...times), unfinished };
}

/** Jobs acknowledged by `at` and not terminal then, per the events the recorder saw. */
export function openAt(s: FaultStack, at: number): string[] {
  const { submits, events } = s.recorder.history;
  const finished = new Set(
    events
      .filter((e) => e.kind === 'TRANSITION' && TERMINAL_STATES.includes(e.state) && e.at <= at)
      .map((e) => e.jobId),
  );
  return submits
    .filter((r) => r.ackedAt !== undefined && r.ackedAt <= at && !finished.has(r.jobId))
    .map((r) => r.jobId);
}
