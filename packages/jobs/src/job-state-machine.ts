import { JobStatus } from '@capstan/gen/cordum/agent/v1/job_pb';

/**
 * Lifecycle states of a job inside Capstan. A superset of CAP's wire `JobStatus`: APPROVAL_REQUIRED (parked for a
 * human) and RETRYING (waiting out a backoff before the next attempt) exist only here.
 */
export const JobState = {
  PENDING: 'PENDING',
  APPROVAL_REQUIRED: 'APPROVAL_REQUIRED',
  SCHEDULED: 'SCHEDULED',
  DISPATCHED: 'DISPATCHED',
  RUNNING: 'RUNNING',
  RETRYING: 'RETRYING',
  SUCCEEDED: 'SUCCEEDED',
  FAILED: 'FAILED',
  CANCELLED: 'CANCELLED',
  DENIED: 'DENIED',
  TIMEOUT: 'TIMEOUT',
} as const;

/** A job state. */
export type JobState = (typeof JobState)[keyof typeof JobState];

/** States a job never leaves. */
export const TERMINAL_STATES: ReadonlySet<JobState> = new Set<JobState>([
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
  'DENIED',
  'TIMEOUT',
]);

/** States in which a worker holds (or may hold) the job. */
export const ACTIVE_STATES: ReadonlySet<JobState> = new Set<JobState>(['DISPATCHED', 'RUNNING']);

/** Every state a job may still move from, with the states it may move to. Anything else is refused. */
const TRANSITIONS: Readonly<Record<JobState, readonly JobState[]>> = {
  // Accepted (row committed), waiting for the policy decision.
  PENDING: ['SCHEDULED', 'APPROVAL_REQUIRED', 'DENIED', 'CANCELLED', 'TIMEOUT', 'FAILED'],
  // Parked until a human approves (→ PENDING for a re-check, or SCHEDULED when the approval still matches) or rejects.
  APPROVAL_REQUIRED: ['PENDING', 'SCHEDULED', 'DENIED', 'CANCELLED', 'TIMEOUT'],
  // Allowed, waiting for a live worker. FAILED when the no-worker wait is exhausted.
  SCHEDULED: ['DISPATCHED', 'CANCELLED', 'TIMEOUT', 'FAILED'],
  // Published to a worker; RETRYING on a retryable failure or an expired lease.
  DISPATCHED: ['RUNNING', 'SUCCEEDED', 'FAILED', 'RETRYING', 'CANCELLED', 'TIMEOUT'],
  RUNNING: ['SUCCEEDED', 'FAILED', 'RETRYING', 'CANCELLED', 'TIMEOUT'],
  // Waiting out its backoff; then dispatched again (or back to waiting for a worker), or out of attempts.
  RETRYING: ['DISPATCHED', 'SCHEDULED', 'FAILED', 'CANCELLED', 'TIMEOUT'],
  SUCCEEDED: [],
  FAILED: [],
  CANCELLED: [],
  DENIED: [],
  TIMEOUT: [],
};

/** True for states a job never leaves. */
export function isTerminal(state: JobState): boolean {
  return TERMINAL_STATES.has(state);
}

/** True when `from → to` is an allowed lifecycle move. */
export function canTransition(from: JobState, to: JobState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Outcome of {@link checkTransition}. */
export type TransitionCheck = { ok: true } | { ok: false; reason: string };

/** Explains why a transition is refused (terminal job, backward move, or a move the lifecycle does not have). */
export function checkTransition(from: JobState, to: JobState): TransitionCheck {
  if (canTransition(from, to)) return { ok: true };
  if (isTerminal(from)) return { ok: false, reason: `job is already ${from}; terminal states are final` };
  return {
    ok: false,
    reason: `${from} → ${to} is not a lifecycle transition (allowed: ${TRANSITIONS[from].join(', ')})`,
  };
}

/** The states a job may move to from `from`. */
export function nextStates(from: JobState): readonly JobState[] {
  return TRANSITIONS[from];
}

/** True when `value` names a job state. */
export function isJobState(value: string): value is JobState {
  return Object.hasOwn(JobState, value);
}

/** CAP wire status for an internal state (APPROVAL_REQUIRED reports as PENDING, RETRYING as FAILED_RETRYABLE). */
export function toWireStatus(state: JobState): JobStatus {
  switch (state) {
    case 'PENDING':
    case 'APPROVAL_REQUIRED':
      return JobStatus.PENDING;
    case 'SCHEDULED':
      return JobStatus.SCHEDULED;
    case 'DISPATCHED':
      return JobStatus.DISPATCHED;
    case 'RUNNING':
      return JobStatus.RUNNING;
    case 'RETRYING':
      return JobStatus.FAILED_RETRYABLE;
    case 'SUCCEEDED':
      return JobStatus.SUCCEEDED;
    case 'FAILED':
      return JobStatus.FAILED;
    case 'CANCELLED':
      return JobStatus.CANCELLED;
    case 'DENIED':
      return JobStatus.DENIED;
    case 'TIMEOUT':
      return JobStatus.TIMEOUT;
  }
}

/** How a worker's result status moves a job. */
export type ResultOutcome =
  | { kind: 'terminal'; state: 'SUCCEEDED' | 'FAILED' | 'CANCELLED' | 'DENIED' | 'TIMEOUT'; fatal: boolean }
  | { kind: 'retryable' }
  | { kind: 'running' }
  | { kind: 'invalid'; reason: string };

/** Interprets a `JobResult.status` from a worker. */
export function resultOutcome(status: JobStatus): ResultOutcome {
  switch (status) {
    case JobStatus.SUCCEEDED:
      return { kind: 'terminal', state: 'SUCCEEDED', fatal: false };
    case JobStatus.FAILED:
      return { kind: 'terminal', state: 'FAILED', fatal: false };
    case JobStatus.FAILED_FATAL:
      return { kind: 'terminal', state: 'FAILED', fatal: true };
    case JobStatus.FAILED_RETRYABLE:
      return { kind: 'retryable' };
    case JobStatus.CANCELLED:
      return { kind: 'terminal', state: 'CANCELLED', fatal: false };
    case JobStatus.TIMEOUT:
      return { kind: 'terminal', state: 'TIMEOUT', fatal: false };
    case JobStatus.DENIED:
      return { kind: 'terminal', state: 'DENIED', fatal: false };
    case JobStatus.RUNNING:
      return { kind: 'running' };
    default:
      return { kind: 'invalid', reason: `a worker result cannot have status ${JobStatus[status] ?? status}` };
  }
}
