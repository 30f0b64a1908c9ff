/**
 * The history of one fault run: what clients, the bus, workers and Postgres said happened. The recorder fills the
 * observed parts while the run goes on; the database parts are read once the run has drained. The checker
 * (`checkHistory`) judges it against the invariants I1–I6.
 */
import type { SideEffect } from './side-effects.js';

/** The terminal job states (docs/scheduler.md). */
export const TERMINAL_STATES: readonly string[] = ['SUCCEEDED', 'FAILED', 'CANCELLED', 'DENIED', 'TIMEOUT'];

/** A submit by the test's client, and whether JetStream acknowledged it. */
export interface SubmitRecord {
  jobId: string;
  tenant: string;
  idempotencyKey?: string;
  /** Terminal states this job may end in; anything else is reported as an unexpected outcome. */
  expect: readonly string[];
  submittedAt: number;
  /** When the JetStream ack arrived; undefined when the submit failed (then it is not covered by I1). */
  ackedAt?: number;
  /** Why the submit failed, when it did. */
  error?: string;
  /** When it failed. */
  failedAt?: number;
}

/** A `JobRequest` seen on a dispatch subject (`job.>` or `worker.<id>.jobs`). */
export interface DispatchRecord {
  jobId: string;
  attempt: number;
  epoch: number;
  subject: string;
  /** The worker of a direct dispatch (from `worker.<id>.jobs`); empty for queue-group dispatches. */
  workerId: string;
  at: number;
}

/** A `JobResult` seen on `sys.job.result`. */
export interface ResultRecord {
  jobId: string;
  workerId: string;
  /** CAP `JobStatus` name, e.g. `SUCCEEDED`. */
  status: string;
  /** From the echoed `Capstan-Lease` header; undefined when the worker sent none. */
  attempt?: number;
  epoch?: number;
  at: number;
}

/** A result the scheduler refused (dead-lettered on `capstan.dlq.sys.job.result`). */
export interface RefusalRecord {
  jobId: string;
  workerId: string;
  epoch?: number;
  /** Dead-letter code; `202` = stale lease / fenced worker. */
  code: string;
  reason: string;
  at: number;
}

/** A submit the scheduler dead-lettered (`capstan.dlq.sys.job.submit`): refused, or given up on after retries. */
export interface SubmitDeadLetter {
  jobId: string;
  code: string;
  reason: string;
  at: number;
}

/** A `capstan.scheduler.v1.JobEvent` seen on `capstan.events.job.>`. */
export interface ObservedEvent {
  jobId: string;
  kind: 'TRANSITION' | 'DUPLICATE' | 'REJECTED' | 'PROGRESS' | 'OTHER';
  state: string;
  previousState: string;
  reason: string;
  duplicateOf: string;
  /** The worker holding the job per the event's snapshot (empty before dispatch and for queue-group dispatches). */
  workerId: string;
  seq: number;
  at: number;
}

/** A `jobs` row, as far as the checker needs it. */
export interface DbJob {
  jobId: string;
  tenant: string;
  state: string;
  attempt: number;
  leaseEpoch: number;
  workerId: string;
  decision: string;
  policySnapshot: string;
  idempotencyKey: string | null;
  workflowId: string;
  stepIndex: number;
  compensationOf: string;
  dlqReason: string;
  errorMessage: string;
  createdAt: number;
  finishedAt: number | null;
}

/** A `job_events` row. */
export interface DbEvent {
  jobId: string;
  seq: number;
  fromState: string;
  toState: string;
  reason: string;
  attempt: number;
  leaseEpoch: number;
  workerId: string;
  at: number;
}

/** A `saga_rollbacks` row. */
export interface DbRollback {
  tenant: string;
  workflowId: string;
  triggerJobId: string;
  finishedAt: number | null;
}

/** A `saga_compensations` row (a succeeded step whose compensation is recorded). */
export interface DbCompensation {
  jobId: string;
  workflowId: string;
  tenant: string;
  stepIndex: number;
  compensationJobId: string | null;
}

/** A `policy_decisions` row written by the safety kernel. */
export interface DbPolicyDecision {
  jobId: string;
  decision: string;
  policySnapshot: string;
}

/** What Postgres says after the run. */
export interface DbHistory {
  jobs: DbJob[];
  events: DbEvent[];
  rollbacks: DbRollback[];
  compensations: DbCompensation[];
  /** Empty when the run had no safety kernel. */
  policyDecisions: DbPolicyDecision[];
}

/** A Capstan process of the run (scheduler, worker, kernel) and how it fared. */
export interface ProcessRecord {
  name: string;
  /** False for processes the fault killed on purpose. */
  expectedAlive: boolean;
  alive: boolean;
  /** How it ended, when it did (`code 1`, `SIGKILL`). */
  exit?: string;
  /** When it ended. */
  exitedAt?: number;
  /** Highest resident set size sampled during the run. */
  peakRssBytes: number;
}

/** Everything observed during a run. */
export interface ObservedHistory {
  submits: SubmitRecord[];
  dispatches: DispatchRecord[];
  results: ResultRecord[];
  refusals: RefusalRecord[];
  submitDeadLetters: SubmitDeadLetter[];
  events: ObservedEvent[];
  effects: SideEffect[];
}

/** Input of {@link checkHistory}. */
export interface HistoryInput extends ObservedHistory {
  db: DbHistory;
  processes: ProcessRecord[];
}
