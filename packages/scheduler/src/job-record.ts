import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { type JobSnapshot, JobSnapshotSchema } from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import type { JobRequest } from '@capstan/gen/cordum/agent/v1/job_pb';
import type { JobState } from '@capstan/jobs';

/**
 * One job as the scheduler sees it: the plain-TS mirror of a `jobs` row. Times are epoch milliseconds.
 * Records are immutable values: every change makes a new record with `version + 1`.
 */
export interface JobRecord {
  jobId: string;
  tenant: string;
  topic: string;
  state: JobState;
  /** Compare-and-set version; also the sequence number of the job's latest transition event. */
  version: number;
  /** Dispatches that counted against the retry budget (1 = first attempt). */
  attempt: number;
  /** Bumped on every dispatch; results must echo the current one (fencing). */
  leaseEpoch: number;
  maxRetries: number;
  priority: number;
  /** The request as accepted; `requestBytes` is its protobuf encoding (stored). */
  request: JobRequest;
  requestBytes: Uint8Array;
  traceId: string;
  senderId: string;
  idempotencyKey: string | null;
  workflowId: string;
  parentJobId: string;
  stepIndex: number;
  /** Set on compensation jobs: the job they undo. */
  compensationOf: string;
  workerId: string;
  fencedWorkers: readonly string[];
  directDispatch: boolean;
  resultPtr: string;
  artifactPtrs: readonly string[];
  errorCode: string;
  errorMessage: string;
  decision: string;
  decisionReason: string;
  policySnapshot: string;
  ruleId: string;
  /** The decision's `PolicyConstraints` as protobuf JSON (`toJson`), or null when there were none. */
  constraints: unknown;
  approvalRef: string;
  progressPct: number;
  progressMessage: string;
  waitReason: string;
  waitSince: number | null;
  dlqReason: string;
  cancelRequested: boolean;
  nextActionAt: number | null;
  deadlineAt: number | null;
  createdAt: number;
  updatedAt: number;
  dispatchedAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
}

/** A transition to append to `job_events`. */
export interface JobEventRow {
  jobId: string;
  tenant: string;
  seq: number;
  fromState: string;
  toState: string;
  reason: string;
  attempt: number;
  leaseEpoch: number;
  workerId: string;
  at: number;
}

/** The public snapshot (proto) of a record. */
export function toSnapshot(r: JobRecord): JobSnapshot {
  return create(JobSnapshotSchema, {
    jobId: r.jobId,
    tenant: r.tenant,
    topic: r.topic,
    state: r.state,
    attempt: r.attempt,
    leaseEpoch: r.leaseEpoch,
    workerId: r.workerId,
    resultPtr: r.resultPtr,
    errorCode: r.errorCode,
    errorMessage: r.errorMessage,
    artifactPtrs: [...r.artifactPtrs],
    progressPct: r.progressPct,
    progressMessage: r.progressMessage,
    decision: r.decision,
    decisionReason: r.decisionReason,
    policySnapshot: r.policySnapshot,
    ruleId: r.ruleId,
    traceId: r.traceId,
    workflowId: r.workflowId,
    parentJobId: r.parentJobId,
    dlqReason: r.dlqReason,
    createdAt: timestampFromMs(r.createdAt),
    updatedAt: timestampFromMs(r.updatedAt),
    ...(r.finishedAt !== null ? { finishedAt: timestampFromMs(r.finishedAt) } : {}),
    cancelRequested: r.cancelRequested,
    waitReason: r.waitReason,
  });
}
