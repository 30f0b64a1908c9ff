import { JobStatus } from '@capstan/gen/cordum/agent/v1/job_pb';
import { describe, expect, it } from 'vitest';
import {
  canTransition,
  checkTransition,
  isTerminal,
  JobState,
  nextStates,
  resultOutcome,
  TERMINAL_STATES,
  toWireStatus,
} from './job-state-machine.js';

const all = Object.values(JobState);

describe('job state machine', () => {
  it('walks the happy path', () => {
    const path: JobState[] = ['PENDING', 'SCHEDULED', 'DISPATCHED', 'RUNNING', 'SUCCEEDED'];
    for (let i = 1; i < path.length; i++) expect(canTransition(path[i - 1]!, path[i]!)).toBe(true);
  });

  it('allows retries, approvals and the no-worker wait', () => {
    expect(canTransition('RUNNING', 'RETRYING')).toBe(true);
    expect(canTransition('DISPATCHED', 'RETRYING')).toBe(true);
    expect(canTransition('RETRYING', 'DISPATCHED')).toBe(true);
    expect(canTransition('RETRYING', 'FAILED')).toBe(true);
    expect(canTransition('PENDING', 'APPROVAL_REQUIRED')).toBe(true);
    expect(canTransition('APPROVAL_REQUIRED', 'PENDING')).toBe(true);
    expect(canTransition('APPROVAL_REQUIRED', 'DENIED')).toBe(true);
    expect(canTransition('SCHEDULED', 'FAILED')).toBe(true);
  });

  it('never leaves a terminal state', () => {
    for (const t of TERMINAL_STATES) {
      expect(nextStates(t)).toEqual([]);
      for (const s of all) {
        const check = checkTransition(t, s);
        expect(check.ok).toBe(false);
        expect(!check.ok && check.reason).toMatch(/terminal states are final/);
      }
    }
  });

  it('rejects backward moves', () => {
    const backward: [JobState, JobState][] = [
      ['RUNNING', 'DISPATCHED'],
      ['DISPATCHED', 'SCHEDULED'],
      ['SCHEDULED', 'PENDING'],
      ['RUNNING', 'PENDING'],
      ['RETRYING', 'RUNNING'],
      ['DISPATCHED', 'PENDING'],
    ];
    for (const [from, to] of backward) {
      const check = checkTransition(from, to);
      expect(check.ok, `${from}→${to}`).toBe(false);
      expect(!check.ok && check.reason).toMatch(/is not a lifecycle transition/);
    }
  });

  it('only DENIED comes from policy states, never from a running job', () => {
    expect(canTransition('RUNNING', 'DENIED')).toBe(false);
    expect(canTransition('PENDING', 'DENIED')).toBe(true);
  });

  it('every non-terminal state can be cancelled and timed out', () => {
    for (const s of all.filter((x) => !isTerminal(x))) {
      expect(canTransition(s, 'CANCELLED'), s).toBe(true);
      expect(canTransition(s, 'TIMEOUT'), s).toBe(true);
    }
  });

  it('maps internal states to the CAP wire status', () => {
    expect(toWireStatus('APPROVAL_REQUIRED')).toBe(JobStatus.PENDING);
    expect(toWireStatus('RETRYING')).toBe(JobStatus.FAILED_RETRYABLE);
    expect(toWireStatus('SUCCEEDED')).toBe(JobStatus.SUCCEEDED);
    for (const s of all) expect(toWireStatus(s)).toBeGreaterThan(0);
  });

  it('interprets worker result statuses', () => {
    expect(resultOutcome(JobStatus.SUCCEEDED)).toEqual({ kind: 'terminal', state: 'SUCCEEDED', fatal: false });
    expect(resultOutcome(JobStatus.FAILED_FATAL)).toEqual({ kind: 'terminal', state: 'FAILED', fatal: true });
    expect(resultOutcome(JobStatus.FAILED_RETRYABLE)).toEqual({ kind: 'retryable' });
    expect(resultOutcome(JobStatus.PENDING).kind).toBe('invalid');
    expect(resultOutcome(JobStatus.UNSPECIFIED).kind).toBe('invalid');
  });
});
