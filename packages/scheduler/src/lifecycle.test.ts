import { create } from '@bufbuild/protobuf';
import { JobRequestSchema } from '@capstan/gen/cordum/agent/v1/job_pb';
import { describe, expect, it } from 'vitest';
import type { JobRecord } from './job-record.js';
import {
  activeLimitAt,
  dispatchLeaseExpiry,
  dueAction,
  holdsDispatchLease,
  type JobLimits,
  nextActionAt,
} from './lifecycle.js';

const limits: JobLimits = { dispatchTimeoutMs: 1_000, runningTimeoutMs: 10_000, cancelGraceMs: 500 };
const T0 = 1_700_000_000_000;

/** A queue-group dispatch made at T0 that no worker has claimed yet. */
function unclaimed(o: Partial<JobRecord> = {}): JobRecord {
  const request = create(JobRequestSchema, { jobId: 'j1', topic: 'job.echo' });
  return {
    jobId: 'j1',
    tenant: 'default',
    topic: 'job.echo',
    state: 'DISPATCHED',
    version: 3,
    attempt: 1,
    leaseEpoch: 1,
    maxRetries: 3,
    priority: 0,
    request,
    requestBytes: new Uint8Array(),
    traceId: 't',
    senderId: 's',
    idempotencyKey: null,
    workflowId: '',
    parentJobId: '',
    stepIndex: 0,
    compensationOf: '',
    workerId: '',
    fencedWorkers: [],
    directDispatch: false,
    resultPtr: '',
    artifactPtrs: [],
    errorCode: '',
    errorMessage: '',
    decision: 'ALLOW',
    decisionReason: '',
    policySnapshot: 'allow-all',
    ruleId: '',
    constraints: null,
    approvalRef: '',
    progressPct: 0,
    progressMessage: '',
    waitReason: '',
    waitSince: null,
    dlqReason: '',
    cancelRequested: false,
    nextActionAt: null,
    deadlineAt: null,
    createdAt: T0,
    updatedAt: T0,
    dispatchedAt: T0,
    startedAt: null,
    finishedAt: null,
    ...o,
  };
}

describe('dispatch lease of an unclaimed queue-group dispatch', () => {
  it('is held only by queue-group dispatches nobody claimed and nobody is cancelling', () => {
    expect(holdsDispatchLease(unclaimed())).toBe(true);
    expect(holdsDispatchLease(unclaimed({ directDispatch: true, workerId: 'w1' }))).toBe(false);
    expect(holdsDispatchLease(unclaimed({ workerId: 'w1' }))).toBe(false);
    expect(holdsDispatchLease(unclaimed({ state: 'RUNNING', workerId: 'w1' }))).toBe(false);
    expect(holdsDispatchLease(unclaimed({ cancelRequested: true }))).toBe(false);
  });

  it('expires dispatch_timeout_ms after the dispatch, and after the latest renewal once renewed', () => {
    const first = unclaimed();
    expect(nextActionAt(first, limits)).toBe(T0 + 1_000);
    expect(dueAction(first, limits, T0 + 999)).toBeNull();
    expect(dueAction(first, limits, T0 + 1_000)).toBe('dispatch_timeout');
    // A renewal is a write of the row: the lease runs from it; dispatchedAt stays the dispatch time.
    const renewed = unclaimed({ version: 4, updatedAt: T0 + 1_000 });
    expect(dispatchLeaseExpiry(renewed, limits)).toBe(T0 + 2_000);
    expect(nextActionAt(renewed, limits)).toBe(T0 + 2_000);
    expect(dueAction(renewed, limits, T0 + 1_500)).toBeNull();
    expect(dueAction(renewed, limits, T0 + 2_000)).toBe('dispatch_timeout');
  });

  it('never outlives the running timeout, counted from the dispatch and not from a renewal', () => {
    const renewedLate = unclaimed({ updatedAt: T0 + 9_800 });
    expect(activeLimitAt(renewedLate, limits)).toBe(T0 + 10_000);
    expect(nextActionAt(renewedLate, limits)).toBe(T0 + 10_000);
    expect(dueAction(renewedLate, limits, T0 + 10_000)).toBe('running_timeout');
  });

  it('never outlives the deadline', () => {
    const r = unclaimed({ updatedAt: T0 + 3_000, deadlineAt: T0 + 3_500 });
    expect(nextActionAt(r, limits)).toBe(T0 + 3_500);
    expect(dueAction(r, limits, T0 + 3_500)).toBe('deadline');
  });

  it('gives way to the cancel grace: a job being cancelled is ended CANCELLED, not dispatched again', () => {
    // Cancel requested at T0 + 800 (the cancel writes the row): the grace ends at T0 + 1300, past the lease.
    const r = unclaimed({ cancelRequested: true, updatedAt: T0 + 800 });
    expect(nextActionAt(r, limits)).toBe(T0 + 1_300);
    expect(dueAction(r, limits, T0 + 1_200)).toBeNull();
    expect(dueAction(r, limits, T0 + 1_300)).toBe('cancel_grace');
  });

  it('does not apply to claimed jobs: their lease is their worker’s heartbeats', () => {
    const running = unclaimed({ state: 'RUNNING', workerId: 'w1', startedAt: T0 + 100 });
    expect(nextActionAt(running, limits)).toBe(T0 + 10_100);
    expect(dueAction(running, limits, T0 + 5_000)).toBeNull();
  });
});
