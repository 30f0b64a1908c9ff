import { checkTransition, isTerminal, type JobState } from '@capstan/jobs';
import type { JobEventRow, JobRecord } from './job-record.js';

/** Thrown when code asks for a move the lifecycle does not allow (a bug, or a lost race surfaced as an error). */
export class InvalidTransitionError extends Error {
  override name = 'InvalidTransitionError';
}

/** A DLQ entry written with a terminal transition. */
export interface DlqEntry {
  jobId: string;
  tenant: string;
  topic: string;
  /** Reason code: `no_workers`, `max_retries_exceeded`, `safety_denied`, `timeout`, `failed`, `fatal`, `unroutable`... */
  reason: string;
  finalState: JobState;
  errorCode: string;
  errorMessage: string;
  attempt: number;
}

/** A compensation recorded when a saga step succeeds. */
export interface SagaStepEntry {
  jobId: string;
  workflowId: string;
  tenant: string;
  stepIndex: number;
  compensationRequest: Uint8Array;
}

/** Everything one compare-and-set commit writes for a job. */
export interface JobChange {
  record: JobRecord;
  /** Version the row must still have; null inserts a new row. */
  expectedVersion: number | null;
  events: JobEventRow[];
  dlq?: DlqEntry;
  sagaStep?: SagaStepEntry;
  /** Starts a saga rollback of the record's workflow (first start wins). */
  startRollback?: boolean;
}

/** Builds changes step by step: each `to()` validates the move, bumps the version and appends its event. */
export interface ChangeBuilder {
  readonly record: JobRecord;
  /** Moves to `state`, merging `patch` into the record. */
  to(state: JobState, reason: string, patch?: Partial<JobRecord>): ChangeBuilder;
  /** Changes fields without a transition (still a new version, no event). */
  set(patch: Partial<JobRecord>): ChangeBuilder;
  dlq(reason: string): ChangeBuilder;
  sagaStep(entry: SagaStepEntry): ChangeBuilder;
  startRollback(): ChangeBuilder;
  build(): JobChange;
}

/** Starts a change of an existing record (`insert: true` for a record not yet in the database). */
export function change(
  base: JobRecord,
  now: number,
  opts: { insert?: boolean; insertReason?: string } = {},
): ChangeBuilder {
  let record = base;
  const events: JobEventRow[] = [];
  let dlq: DlqEntry | undefined;
  let sagaStep: SagaStepEntry | undefined;
  let startRollback = false;
  const expectedVersion = opts.insert ? null : base.version;
  if (opts.insert) {
    events.push(eventOf(record, '', opts.insertReason ?? 'accepted', now));
  } else {
    record = { ...record, version: record.version + 1, updatedAt: now };
  }
  const builder: ChangeBuilder = {
    get record() {
      return record;
    },
    to(state, reason, patch) {
      const check = checkTransition(record.state, state);
      if (!check.ok) throw new InvalidTransitionError(`job ${record.jobId}: ${check.reason}`);
      const from = record.state;
      // Inserts start at version 1 with the PENDING event; each further transition is one more version.
      const version = opts.insert || events.length > 0 ? record.version + 1 : record.version;
      record = {
        ...record,
        ...patch,
        state,
        version,
        updatedAt: now,
        ...(isTerminal(state) ? { finishedAt: now, nextActionAt: null } : {}),
      };
      events.push(eventOf(record, from, reason, now));
      return builder;
    },
    set(patch) {
      record = { ...record, ...patch, updatedAt: now };
      return builder;
    },
    dlq(reason) {
      record = { ...record, dlqReason: reason };
      dlq = {
        jobId: record.jobId,
        tenant: record.tenant,
        topic: record.topic,
        reason,
        finalState: record.state,
        errorCode: record.errorCode,
        errorMessage: record.errorMessage,
        attempt: record.attempt,
      };
      return builder;
    },
    sagaStep(entry) {
      sagaStep = entry;
      return builder;
    },
    startRollback() {
      startRollback = true;
      return builder;
    },
    build() {
      return {
        record,
        expectedVersion,
        events,
        ...(dlq
          ? {
              dlq: { ...dlq, finalState: record.state, errorCode: record.errorCode, errorMessage: record.errorMessage },
            }
          : {}),
        ...(sagaStep ? { sagaStep } : {}),
        ...(startRollback ? { startRollback } : {}),
      };
    },
  };
  return builder;
}

function eventOf(r: JobRecord, from: string, reason: string, at: number): JobEventRow {
  return {
    jobId: r.jobId,
    tenant: r.tenant,
    seq: r.version,
    fromState: from,
    toState: r.state,
    reason,
    attempt: r.attempt,
    leaseEpoch: r.leaseEpoch,
    workerId: r.workerId,
    at,
  };
}

/** Time limits that apply to a job. */
export interface JobLimits {
  dispatchTimeoutMs: number;
  runningTimeoutMs: number;
  cancelGraceMs: number;
}

/** What is due for a job right now. */
export type DueAction = 'deadline' | 'cancel_grace' | 'running_timeout' | 'dispatch_timeout' | 'resume' | null;

/**
 * True while the job holds a **dispatch lease**: a queue-group dispatch (not direct) that no worker has claimed yet —
 * no progress, no result, so nobody knows which member of the queue group took it — and that is not being cancelled
 * (a job being cancelled ends CANCELLED at the cancel grace; it is never dispatched again).
 */
export function holdsDispatchLease(r: JobRecord): boolean {
  return r.state === 'DISPATCHED' && !r.directDispatch && r.workerId === '' && !r.cancelRequested;
}

/**
 * When a dispatch lease ends: `dispatchTimeoutMs` after the job's last write, which is the dispatch itself or the
 * latest renewal (the scheduler renews the lease by re-writing the row while a worker of the pool reports active
 * jobs; see docs/scheduler.md). Nothing else writes an unclaimed, not-cancelled DISPATCHED job.
 */
export function dispatchLeaseExpiry(r: JobRecord, limits: JobLimits): number {
  return r.updatedAt + limits.dispatchTimeoutMs;
}

/**
 * The earliest limit of a DISPATCHED/RUNNING job other than its dispatch lease: the deadline, the cancel grace and
 * the running timeout (counted from the first dispatch or from RUNNING, never from a lease renewal).
 */
export function activeLimitAt(r: JobRecord, limits: JobLimits): number {
  const startedAt = r.startedAt ?? r.dispatchedAt ?? r.updatedAt;
  let at = startedAt + limits.runningTimeoutMs;
  if (r.deadlineAt !== null) at = Math.min(at, r.deadlineAt);
  if (r.cancelRequested) at = Math.min(at, r.updatedAt + limits.cancelGraceMs);
  return at;
}

/**
 * When the job needs attention next (the `next_action_at` column). `waitUntil` is when a waiting job (PENDING,
 * SCHEDULED, RETRYING, APPROVAL_REQUIRED) should be tried again.
 */
export function nextActionAt(r: JobRecord, limits: JobLimits, waitUntil?: number | null): number | null {
  if (isTerminal(r.state)) return null;
  if (r.state === 'DISPATCHED' || r.state === 'RUNNING') {
    const limit = activeLimitAt(r, limits);
    return holdsDispatchLease(r) ? Math.min(limit, dispatchLeaseExpiry(r, limits)) : limit;
  }
  const candidates: number[] = [];
  if (r.deadlineAt !== null) candidates.push(r.deadlineAt);
  if (waitUntil !== undefined && waitUntil !== null) candidates.push(waitUntil);
  else if (r.nextActionAt !== null) candidates.push(r.nextActionAt);
  return candidates.length === 0 ? null : Math.min(...candidates);
}

/**
 * Which limit, if any, has been reached at `now`. The deadline, the cancel grace and the running timeout come before
 * the dispatch lease, so a renewed lease never outlives them.
 */
export function dueAction(r: JobRecord, limits: JobLimits, now: number): DueAction {
  if (isTerminal(r.state)) return null;
  if (r.deadlineAt !== null && now >= r.deadlineAt) return 'deadline';
  if (r.state === 'DISPATCHED' || r.state === 'RUNNING') {
    if (r.cancelRequested && now >= r.updatedAt + limits.cancelGraceMs) return 'cancel_grace';
    const startedAt = r.startedAt ?? r.dispatchedAt ?? r.updatedAt;
    if (now >= startedAt + limits.runningTimeoutMs) return 'running_timeout';
    if (holdsDispatchLease(r) && now >= dispatchLeaseExpiry(r, limits)) return 'dispatch_timeout';
    return null;
  }
  return r.nextActionAt !== null && now >= r.nextActionAt ? 'resume' : null;
}

/**
 * The absolute deadline of a request. CAP's `budget.deadline_ms` is read as an absolute epoch-ms time when it
 * looks like one (> 10^12, i.e. after 2001) and as a duration from acceptance otherwise.
 */
export function deadlineFrom(deadlineMs: bigint | undefined, acceptedAt: number): number | null {
  if (deadlineMs === undefined || deadlineMs <= 0n) return null;
  const v = Number(deadlineMs);
  return v > 1e12 ? v : acceptedAt + v;
}
