/**
 * The history checker on hand-made histories: a clean run passes, and each invariant breach is caught and named.
 * (The fault tests run it on real histories; these pin down what it catches.)
 */
import { describe, expect, it } from 'vitest';
import type { DbEvent, DbJob, HistoryInput } from './support/history.js';
import { checkHistory } from './support/history-checker.js';

const T = 1_000_000;

function job(jobId: string, patch: Partial<DbJob> = {}): DbJob {
  return {
    jobId,
    tenant: 'faults',
    state: 'SUCCEEDED',
    attempt: 1,
    leaseEpoch: 1,
    workerId: 'w1',
    decision: 'ALLOW',
    policySnapshot: 'allow-all',
    idempotencyKey: null,
    workflowId: '',
    stepIndex: 0,
    compensationOf: '',
    dlqReason: '',
    errorMessage: '',
    createdAt: T,
    finishedAt: T + 50,
    ...patch,
  };
}

const ev = (jobId: string, seq: number, fromState: string, toState: string, patch: Partial<DbEvent> = {}): DbEvent => ({
  jobId,
  seq,
  fromState,
  toState,
  reason: '',
  attempt: 0,
  leaseEpoch: 0,
  workerId: '',
  at: T + seq,
  ...patch,
});

/** The events of a job that ran once on w1 and succeeded. */
const cleanEvents = (jobId: string): DbEvent[] => [
  ev(jobId, 1, '', 'PENDING', { reason: 'accepted' }),
  ev(jobId, 2, 'PENDING', 'SCHEDULED', { reason: 'policy_allow' }),
  ev(jobId, 3, 'SCHEDULED', 'DISPATCHED', { reason: 'dispatched', attempt: 1, leaseEpoch: 1, workerId: 'w1' }),
  ev(jobId, 4, 'DISPATCHED', 'RUNNING', { reason: 'started', attempt: 1, leaseEpoch: 1, workerId: 'w1' }),
  ev(jobId, 5, 'RUNNING', 'SUCCEEDED', { reason: 'worker_succeeded', attempt: 1, leaseEpoch: 1, workerId: 'w1' }),
];

/** One job `j1`, submitted, acknowledged, dispatched once, run once, SUCCEEDED. */
function cleanHistory(): HistoryInput {
  return {
    submits: [{ jobId: 'j1', tenant: 'faults', expect: ['SUCCEEDED'], submittedAt: T, ackedAt: T + 1 }],
    dispatches: [{ jobId: 'j1', attempt: 1, epoch: 1, subject: 'worker.w1.jobs', workerId: 'w1', at: T + 3 }],
    results: [{ jobId: 'j1', workerId: 'w1', status: 'SUCCEEDED', attempt: 1, epoch: 1, at: T + 5 }],
    refusals: [],
    submitDeadLetters: [],
    events: [
      {
        jobId: 'j1',
        kind: 'TRANSITION',
        state: 'SUCCEEDED',
        previousState: 'RUNNING',
        reason: 'worker_succeeded',
        duplicateOf: '',
        workerId: 'w1',
        seq: 5,
        at: T + 5,
      },
    ],
    effects: [
      { jobId: 'j1', attempt: 1, epoch: 1, workerId: 'w1', phase: 'start', at: T + 3 },
      { jobId: 'j1', attempt: 1, epoch: 1, workerId: 'w1', phase: 'effect', at: T + 4 },
    ],
    db: { jobs: [job('j1')], events: cleanEvents('j1'), rollbacks: [], compensations: [], policyDecisions: [] },
    processes: [{ name: 'scheduler-a', expectedAlive: true, alive: true, peakRssBytes: 100 * 2 ** 20 }],
  };
}

const invariants = (h: HistoryInput, options = {}) =>
  checkHistory(h, options).violations.map((v) => `${v.invariant} ${v.jobId ?? '-'}: ${v.detail}`);

describe('checkHistory', () => {
  it('passes a clean run and counts it', () => {
    const verdict = checkHistory(cleanHistory(), { maxExecutionsPerJob: 1 });
    expect(verdict).toMatchObject({ jobs: 1, lost: [], duplicated: [], violations: [] });
    expect(verdict.stats).toMatchObject({ states: { SUCCEEDED: 1 }, dispatches: 1, results: 1, reexecuted: 0 });
  });

  describe('I1: every acknowledged submit reaches a terminal state', () => {
    it('reports a job stuck in a non-terminal state as lost', () => {
      const h = cleanHistory();
      h.db.jobs = [job('j1', { state: 'DISPATCHED', finishedAt: null })];
      h.db.events = cleanEvents('j1').slice(0, 3);
      const verdict = checkHistory(h);
      expect(verdict.lost).toEqual(['j1']);
      expect(invariants(h)).toEqual(['I1 j1: acknowledged job is stuck in DISPATCHED (attempt 1)']);
    });

    it('reports an acknowledged submit with no job, naming the dead letter when the scheduler gave up on it', () => {
      const h = cleanHistory();
      h.submits.push({ jobId: 'j2', tenant: 'faults', expect: ['SUCCEEDED'], submittedAt: T, ackedAt: T + 1 });
      h.submits.push({ jobId: 'j3', tenant: 'faults', expect: ['SUCCEEDED'], submittedAt: T, ackedAt: T + 1 });
      h.submitDeadLetters.push({ jobId: 'j3', code: 'HANDLER_FAILED', reason: 'gave up after 5 deliveries', at: T });
      expect(invariants(h)).toEqual([
        'I1 j2: acknowledged submit has no job row and no DUPLICATE event',
        'I1 j3: acknowledged submit was dead-lettered by the scheduler without a job (HANDLER_FAILED: gave up after 5 deliveries)',
      ]);
    });

    it('follows a DUPLICATE event to the job holding the idempotency key; ignores unacknowledged submits', () => {
      const h = cleanHistory();
      h.submits.push({ jobId: 'dup', tenant: 'faults', expect: ['SUCCEEDED'], submittedAt: T, ackedAt: T + 1 });
      h.submits.push({ jobId: 'never', tenant: 'faults', expect: ['SUCCEEDED'], submittedAt: T, error: 'timeout' });
      h.events.push({ ...h.events[0]!, jobId: 'dup', kind: 'DUPLICATE', duplicateOf: 'j1' });
      const verdict = checkHistory(h);
      expect(verdict).toMatchObject({ jobs: 2, lost: [], violations: [] });
      expect(verdict.stats.states).toEqual({ SUCCEEDED: 2 });
    });

    it('counts only submits made since `since`, and flags an outcome the submit did not allow', () => {
      const h = cleanHistory();
      h.submits[0]!.expect = ['CANCELLED'];
      expect(invariants(h)).toEqual(['expect j1: ended SUCCEEDED; expected CANCELLED']);
      expect(checkHistory(h, { since: T + 1 })).toMatchObject({ jobs: 0, violations: [] });
    });
  });

  describe('I2: at most one terminal state', () => {
    it('catches two terminal transitions, and clients seeing two terminal states', () => {
      const h = cleanHistory();
      h.db.events.push(ev('j1', 6, 'SUCCEEDED', 'CANCELLED', { reason: 'cancelled' }));
      h.events.push({ ...h.events[0]!, state: 'CANCELLED', seq: 6 });
      const verdict = checkHistory(h);
      expect(verdict.duplicated).toEqual(['j1']);
      expect(invariants(h)).toEqual([
        'I2 j1: 2 terminal transitions: SUCCEEDED, CANCELLED',
        'I2 j1: clients saw several terminal states: SUCCEEDED, CANCELLED',
      ]);
    });

    it('catches two jobs holding one idempotency key', () => {
      const h = cleanHistory();
      h.db.jobs = [job('j1', { idempotencyKey: 'k' }), job('j2', { idempotencyKey: 'k' })];
      expect(checkHistory(h).duplicated.sort()).toEqual(['j1', 'j2']);
      expect(invariants(h)).toContain('I2 -: 2 jobs hold idempotency key k');
    });

    it('catches one lease executed twice, and more executions than a fault allows', () => {
      const h = cleanHistory();
      h.effects.push({ jobId: 'j1', attempt: 1, epoch: 1, workerId: 'w2', phase: 'effect', at: T + 6 });
      expect(invariants(h)).toEqual(['I2 j1: lease epoch 1 executed 2 times (w1, w2)']);
      const again = cleanHistory();
      again.effects.push({ jobId: 'j1', attempt: 2, epoch: 2, workerId: 'w2', phase: 'effect', at: T + 6 });
      again.db.events.splice(4, 0, ev('j1', 4.5, 'RUNNING', 'DISPATCHED', { attempt: 2, leaseEpoch: 2 }));
      expect(checkHistory(again).stats.reexecuted).toBe(1);
      expect(invariants(again, { maxExecutionsPerJob: 1 })).toEqual([
        'I2 j1: work done by 2 attempts (epochs 1, 2); at most 1 allowed here',
      ]);
    });
  });

  describe('I3: no dispatch without a recorded ALLOW tied to a snapshot', () => {
    it('catches a dispatched job without an ALLOW decision or snapshot', () => {
      const h = cleanHistory();
      h.db.jobs = [job('j1', { decision: '', policySnapshot: '' })];
      expect(invariants(h)).toEqual(['I3 j1: dispatch of attempt 1: job decision is "" with snapshot ""']);
    });

    it('catches a dispatch without a SCHEDULED transition before it', () => {
      const h = cleanHistory();
      h.db.events = h.db.events.filter((e) => e.toState !== 'SCHEDULED');
      expect(invariants(h)).toEqual([
        'I3 j1: dispatch of attempt 1: no SCHEDULED transition before DISPATCHED (seq 3)',
      ]);
    });

    it('catches a packet on a dispatch subject that was never recorded as DISPATCHED', () => {
      const h = cleanHistory();
      h.dispatches.push({ jobId: 'j1', attempt: 2, epoch: 2, subject: 'job.faults.work', workerId: '', at: T + 9 });
      expect(invariants(h)).toEqual(['I3 j1: dispatch 2.2 on job.faults.work was never recorded as DISPATCHED']);
    });

    it('counts dispatched jobs missing from the kernel audit log without calling it a violation', () => {
      const verdict = checkHistory(cleanHistory(), { kernelAudit: true });
      expect(verdict.stats.kernelAuditGaps).toEqual(['j1']);
      expect(verdict.violations).toEqual([]);
      const audited = cleanHistory();
      audited.db.policyDecisions = [{ jobId: 'j1', decision: 'ALLOW', policySnapshot: 'allow-all' }];
      expect(checkHistory(audited, { kernelAudit: true }).stats.kernelAuditGaps).toEqual([]);
    });
  });

  describe('I4: monotonic attempts, stale results refused', () => {
    it('catches dispatches published out of order', () => {
      const h = cleanHistory();
      h.db.events.splice(3, 0, ev('j1', 3.5, 'DISPATCHED', 'DISPATCHED', { attempt: 2, leaseEpoch: 2 }));
      h.dispatches.unshift({ jobId: 'j1', attempt: 2, epoch: 2, subject: 'worker.w1.jobs', workerId: 'w1', at: T });
      expect(invariants(h)).toContain('I4 j1: dispatch 1.1 was published after 2.2');
    });

    it('accepts the same lease published again to the same worker (redelivery of an unclaimed direct dispatch)', () => {
      const h = cleanHistory();
      const first = h.dispatches.find((d) => d.jobId === 'j1')!;
      h.dispatches.splice(h.dispatches.indexOf(first) + 1, 0, { ...first, at: first.at + 5000 });
      expect(invariants(h)).toEqual([]);
      // …but not to another worker.
      const other = cleanHistory();
      const d = other.dispatches.find((x) => x.jobId === 'j1')!;
      other.dispatches.splice(other.dispatches.indexOf(d) + 1, 0, { ...d, workerId: 'w9', at: d.at + 5000 });
      expect(invariants(other)).toContain('I4 j1: dispatch 1.1 was published after 1.1');
    });

    it('catches a terminal state accepted from a result of an older epoch', () => {
      const h = cleanHistory();
      h.db.events[4] = { ...h.db.events[4]!, leaseEpoch: 2 };
      expect(invariants(h)).toEqual([
        'I4 j1: SUCCEEDED (worker_succeeded) accepted at epoch 2, but w1 only sent results for epochs 1: a stale result was accepted',
      ]);
    });

    it('catches a worker running an epoch that was never dispatched, and counts refused stale results', () => {
      const h = cleanHistory();
      h.effects.push({ jobId: 'j1', attempt: 7, epoch: 7, workerId: 'w1', phase: 'start', at: T + 9 });
      h.refusals.push({ jobId: 'j1', workerId: 'w9', epoch: 0, code: '202', reason: 'stale lease epoch 0', at: T + 9 });
      expect(invariants(h)).toEqual(['I4 j1: w1 ran epoch 7, which was never dispatched']);
      expect(checkHistory(h).stats.staleRefused).toBe(1);
    });
  });

  describe('I5: compensations once each, in reverse order', () => {
    /** Workflow wf: steps s0 and s1 succeeded, s2 failed fatally; compensations of s1 then s0. */
    function saga(): HistoryInput {
      const h = cleanHistory();
      h.db.rollbacks = [{ tenant: 'faults', workflowId: 'wf', triggerJobId: 's2', finishedAt: T + 300 }];
      h.db.compensations = [
        { jobId: 's0', workflowId: 'wf', tenant: 'faults', stepIndex: 0, compensationJobId: 's0-compensation' },
        { jobId: 's1', workflowId: 'wf', tenant: 'faults', stepIndex: 1, compensationJobId: 's1-compensation' },
      ];
      h.db.jobs.push(
        job('s1-compensation', { workflowId: 'wf', compensationOf: 's1', createdAt: T + 100, finishedAt: T + 150 }),
        job('s0-compensation', { workflowId: 'wf', compensationOf: 's0', createdAt: T + 200, finishedAt: T + 250 }),
      );
      return h;
    }

    it('passes a rollback that ran s1 then s0, one after the other', () => {
      expect(invariants(saga())).toEqual([]);
      expect(checkHistory(saga()).stats).toMatchObject({ rollbacks: 1, compensations: 2 });
    });

    it('catches the wrong order, an overlap, a step compensated twice and an unfinished rollback', () => {
      const wrongOrder = saga();
      wrongOrder.db.jobs[1]!.createdAt = T + 400;
      wrongOrder.db.jobs[1]!.finishedAt = T + 450;
      expect(invariants(wrongOrder)).toEqual([
        "I5 s1-compensation: workflow wf: compensation of step 1 ran after step 0's",
      ]);
      const overlap = saga();
      overlap.db.jobs[2]!.createdAt = T + 120;
      expect(invariants(overlap)).toEqual([
        'I5 s0-compensation: workflow wf: s0-compensation started before s1-compensation finished',
      ]);
      const twice = saga();
      twice.db.jobs.push(job('s1-compensation-again', { workflowId: 'wf', compensationOf: 's1', createdAt: T + 260 }));
      expect(invariants(twice)).toContain('I5 s1: step s1 was compensated 2 times');
      const unfinished = saga();
      unfinished.db.rollbacks[0]!.finishedAt = null;
      expect(invariants(unfinished)).toEqual(['I5 -: rollback of workflow wf (triggered by s2) never finished']);
    });
  });

  describe('I6: bounded memory, no process dies', () => {
    it('catches a process that died unasked and one that grew too big; a process killed on purpose, or dead before the run, is fine', () => {
      const h = cleanHistory();
      h.processes = [
        { name: 'scheduler-a', expectedAlive: true, alive: false, exit: 'code 1', peakRssBytes: 0 },
        { name: 'worker-1', expectedAlive: false, alive: false, exit: 'SIGKILL', peakRssBytes: 0 },
        { name: 'worker-2', expectedAlive: true, alive: true, peakRssBytes: 700 * 2 ** 20 },
      ];
      expect(invariants(h, { rssLimitBytes: 512 * 2 ** 20 })).toEqual([
        'I6 -: scheduler-a died (code 1)',
        'I6 -: worker-2 reached 700 MiB RSS (limit 512 MiB)',
      ]);
      // A death before this run's `since` belongs to the fault that caused it.
      h.processes[0]!.exitedAt = T - 5;
      expect(invariants(h, { since: T - 1 })).toEqual([]);
    });
  });
});
