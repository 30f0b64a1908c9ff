import { timestampMs } from '@bufbuild/protobuf/wkt';
import { type JobEvent, JobEventKind } from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import { isJobState, isTerminal } from '@capstan/jobs';
import type { CapstanDatabase } from '@capstan/store';
import type { Selectable } from 'kysely';

/** A `job_events` row as selected. */
export type JobEventRow = Selectable<CapstanDatabase['job_events']>;

/** What kind of change an event reports. */
export type JobEventKindName = 'transition' | 'progress' | 'duplicate' | 'rejected';

/**
 * One job event as WebSocket pushes (`job_event`) and SSE `data:` lines carry it. Live events come from the
 * scheduler's `capstan.scheduler.v1.JobEvent` on NATS; replayed ones from the `job_events` table (transitions only:
 * progress is not stored, and replayed events carry no progress or error — GET the job for those).
 */
export interface JobEventView {
  job_id: string;
  /** The job's version after the event: per-job order, the SSE `id:` and the `jobs:<id>` resume cursor. */
  seq: number;
  /** Resume cursor for `jobs:*`: `<job_id>:<seq>` (or pass a stored event id). */
  cursor: string;
  kind: JobEventKindName;
  state: string;
  previous_state: string | null;
  reason: string;
  at: string;
  attempt: number;
  worker_id: string | null;
  progress: { percent: number; message: string } | null;
  error: { code: string; message: string } | null;
  /** For `duplicate`: the job that already holds the idempotency key. */
  duplicate_of: string | null;
  /** True when the event was read back from `job_events` for a resuming client. */
  replayed: boolean;
}

const KINDS: Readonly<Record<number, JobEventKindName>> = {
  [JobEventKind.TRANSITION]: 'transition',
  [JobEventKind.PROGRESS]: 'progress',
  [JobEventKind.DUPLICATE]: 'duplicate',
  [JobEventKind.REJECTED]: 'rejected',
};

/** The resume cursor of a job's event, `<job_id>:<seq>` (job ids may hold `:`, the seq never does). */
export function eventCursor(jobId: string, seq: number): string {
  return `${jobId}:${seq}`;
}

/** True when the event ends the job's stream (a terminal state, or a refused submit). */
export function isFinalEvent(view: Pick<JobEventView, 'kind' | 'state'>): boolean {
  if (view.kind === 'rejected') return true;
  return view.kind === 'transition' && isJobState(view.state) && isTerminal(view.state);
}

/** The view of a live event; `jobId` comes from the subject (authoritative for routing). */
export function liveEventView(jobId: string, event: JobEvent): JobEventView {
  const job = event.job;
  const seq = Number(event.seq);
  const kind = KINDS[event.kind] ?? 'transition';
  return {
    job_id: jobId,
    seq,
    cursor: eventCursor(jobId, seq),
    kind,
    state: job?.state ?? '',
    previous_state: event.previousState || null,
    reason: event.reason,
    at: new Date(event.at ? timestampMs(event.at) : Date.now()).toISOString(),
    attempt: job?.attempt ?? 0,
    worker_id: job?.workerId || null,
    progress:
      job && (job.progressPct > 0 || job.progressMessage)
        ? { percent: job.progressPct, message: job.progressMessage }
        : null,
    error: job && (job.errorCode || job.errorMessage) ? { code: job.errorCode, message: job.errorMessage } : null,
    duplicate_of: event.duplicateOf || null,
    replayed: false,
  };
}

/** The view of a stored transition. */
export function storedEventView(row: JobEventRow): JobEventView {
  return {
    job_id: row.job_id,
    seq: row.seq,
    cursor: eventCursor(row.job_id, row.seq),
    kind: 'transition',
    state: row.to_state,
    previous_state: row.from_state || null,
    reason: row.reason,
    at: row.at.toISOString(),
    attempt: row.attempt,
    worker_id: row.worker_id || null,
    progress: null,
    error: null,
    duplicate_of: null,
    replayed: true,
  };
}
