import type { CapstanDatabase } from '@capstan/store';
import type { Kysely } from 'kysely';
import { fitsPgBigint, MAX_PG_INTEGER } from '../http/pg-ranges.js';
import type { JobEventRow } from './job-event-view.js';

/** Where a resuming client left off. */
export type ResumePosition =
  /** After this seq of one job (`jobs:<id>` channels, SSE `Last-Event-ID`). */
  | { kind: 'seq'; seq: number }
  /** After this stored event id, tenant-wide (`jobs:*`). */
  | { kind: 'event_id'; id: string }
  /** After this event of a job, tenant-wide (`jobs:*` with a `<job_id>:<seq>` cursor). */
  | { kind: 'job_seq'; jobId: string; seq: number };

/** A cursor a client sent that cannot be used; `message` says what was expected. */
export class ResumeCursorError extends Error {
  override readonly name = 'ResumeCursorError';
}

const DIGITS = /^[0-9]{1,19}$/;

/**
 * Parses a resume cursor: a number or decimal string (a seq for one job's stream, a stored event id for a
 * tenant-wide one), or the `<job_id>:<seq>` `cursor` field of a pushed event.
 * @throws {ResumeCursorError} naming the accepted forms.
 */
export function parseResumeCursor(raw: unknown, scope: { jobId?: string }): ResumePosition {
  const expected = scope.jobId
    ? 'a non-negative seq (number), or the cursor field of an event of this job'
    : 'a stored event id (number or digit string) or the cursor field ("<job_id>:<seq>") of a pushed event';
  if (typeof raw === 'number') {
    if (!Number.isSafeInteger(raw) || raw < 0)
      throw new ResumeCursorError(`invalid cursor ${raw}: expected ${expected}`);
    if (!scope.jobId && !fitsPgBigint(String(raw)))
      throw new ResumeCursorError(`invalid cursor ${raw}: expected ${expected}`);
    return scope.jobId ? { kind: 'seq', seq: Math.min(raw, MAX_PG_INTEGER) } : { kind: 'event_id', id: String(raw) };
  }
  if (typeof raw !== 'string' || raw.length > 200) throw new ResumeCursorError(`invalid cursor: expected ${expected}`);
  if (DIGITS.test(raw)) {
    if (scope.jobId) return { kind: 'seq', seq: Math.min(Number(raw), MAX_PG_INTEGER) };
    if (!fitsPgBigint(raw)) throw new ResumeCursorError(`invalid cursor ${raw}: expected ${expected}`);
    return { kind: 'event_id', id: raw };
  }
  const colon = raw.lastIndexOf(':');
  const jobId = raw.slice(0, colon);
  const seqText = raw.slice(colon + 1);
  if (colon <= 0 || !DIGITS.test(seqText) || !/^[A-Za-z0-9_:-]{1,128}$/.test(jobId)) {
    throw new ResumeCursorError(`invalid cursor ${JSON.stringify(raw.slice(0, 64))}: expected ${expected}`);
  }
  const seq = Math.min(Number(seqText), MAX_PG_INTEGER);
  if (scope.jobId) {
    if (jobId !== scope.jobId) throw new ResumeCursorError(`cursor belongs to job ${jobId}, not ${scope.jobId}`);
    return { kind: 'seq', seq };
  }
  return { kind: 'job_seq', jobId, seq };
}

/**
 * Reads the stored transitions after `position` (at most `limit + 1`, so the caller can tell truncation):
 * one job's by seq, or the tenant's by event id. A `<job_id>:<seq>` cursor is first turned into the event id of
 * that transition (of this tenant: a cursor of another tenant's job reads as unknown).
 * @throws {ResumeCursorError} when a `<job_id>:<seq>` cursor names no stored event of the tenant.
 */
export async function readEventsAfter(
  db: Kysely<CapstanDatabase>,
  tenant: string,
  jobId: string | undefined,
  position: ResumePosition,
  limit: number,
): Promise<JobEventRow[]> {
  if (jobId !== undefined) {
    const after = position.kind === 'seq' ? position.seq : 0;
    return db
      .selectFrom('job_events')
      .selectAll()
      .where('job_id', '=', jobId)
      .where('tenant', '=', tenant)
      .where('seq', '>', after)
      .orderBy('seq')
      .limit(limit + 1)
      .execute();
  }
  let afterId: string;
  if (position.kind === 'job_seq') {
    const row = await db
      .selectFrom('job_events')
      .select('id')
      .where('job_id', '=', position.jobId)
      .where('seq', '=', position.seq)
      .where('tenant', '=', tenant)
      .executeTakeFirst();
    if (!row) throw new ResumeCursorError(`unknown cursor ${position.jobId}:${position.seq}`);
    afterId = String(row.id);
  } else {
    afterId = position.kind === 'event_id' ? position.id : '0';
  }
  return db
    .selectFrom('job_events')
    .selectAll()
    .where('tenant', '=', tenant)
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit + 1)
    .execute();
}
