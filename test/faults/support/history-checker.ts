import { type DbEvent, type DbJob, type HistoryInput, TERMINAL_STATES } from './history.js';

/** The invariants of ARCHITECTURE.md §11, plus `expect` for outcomes a fault test did not allow. */
export type Invariant = 'I1' | 'I2' | 'I3' | 'I4' | 'I5' | 'I6' | 'expect';

/** One broken rule, with the job it concerns and what was seen. */
export interface Violation {
  invariant: Invariant;
  jobId?: string;
  detail: string;
}

/** Options of {@link checkHistory}. */
export interface CheckOptions {
  /**
   * Most attempts of one job that may have done their work (`effect` lines). Undefined: not checked — a fault that
   * kills a worker after its side effect makes a second execution legitimate (at-least-once). Faults that never
   * interrupt a worker expect 1.
   * @default undefined
   */
  maxExecutionsPerJob?: number;
  /**
   * The run had a safety kernel: count dispatched jobs without an ALLOW row in the kernel's audit log
   * (`policy_decisions`) in `stats.kernelAuditGaps`. Not an I3 violation: I3's record is the job's own decision and
   * snapshot, written before the dispatch; the kernel writes its audit rows in batches after answering
   * (`DecisionRecorderStats.dropped` counts what it loses). @default false
   */
  kernelAudit?: boolean;
  /** Largest resident set size a Capstan process may reach (I6). @default 1 GiB */
  rssLimitBytes?: number;
  /**
   * Count only submits made at or after this time (ms) as this run's jobs (`jobs`, `lost`, `states`, `expect`):
   * faults sharing one stack report their own jobs. The invariants are still checked over the whole history.
   * @default 0
   */
  since?: number;
}

/** What the checker found. */
export interface HistoryVerdict {
  /** Acknowledged submits (jobs I1 covers). */
  jobs: number;
  /** Acknowledged jobs that did not reach a terminal state. */
  lost: string[];
  /** Jobs with more than one terminal state, more than one job per idempotency key, or too many executions. */
  duplicated: string[];
  violations: Violation[];
  stats: {
    /** Final states of the acknowledged jobs (after following DUPLICATE to the job holding the key). */
    states: Record<string, number>;
    dispatches: number;
    results: number;
    /** Results the scheduler refused as stale (dead letter code 202). */
    staleRefused: number;
    /** Jobs whose work was done by more than one attempt (legitimate after a worker died mid-job). */
    reexecuted: number;
    /** Dispatched jobs with no ALLOW row in the kernel's audit log (with `kernelAudit`). */
    kernelAuditGaps: string[];
    /** Worker results whose lease could not be matched because the result was not observed (e.g. NATS was down). */
    unverifiedResults: number;
    rollbacks: number;
    compensations: number;
  };
}

/** Reasons of transitions the scheduler makes because a worker result said so. */
const RESULT_REASONS = new Set([
  'worker_succeeded',
  'worker_failed',
  'worker_cancelled',
  'worker_timeout',
  'worker_denied',
  'failed_fatal',
  'failed_retryable',
]);
const ALLOWING_TRANSITIONS = new Set(['SCHEDULED']);
const GIB = 1024 ** 3;

const isTerminal = (state: string) => TERMINAL_STATES.includes(state);
const isAllow = (decision: string) => decision === 'ALLOW' || decision === 'ALLOW_WITH_CONSTRAINTS';

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = map.get(k);
    if (list) list.push(item);
    else map.set(k, [item]);
  }
  return map;
}

/**
 * Checks a run's history against the invariants:
 * - I1 every acknowledged submit reaches a terminal state (following a DUPLICATE event to the job holding the key);
 * - I2 at most one terminal state per job (in `job_events` and in the events clients saw), one job per idempotency
 *   key, no lease executed twice, at most `maxExecutionsPerJob` executions;
 * - I3 every dispatch (seen on the bus or recorded) is recorded as DISPATCHED with its attempt and epoch, after a
 *   SCHEDULED transition, on a job with an ALLOW decision tied to a policy snapshot;
 * - I4 attempts and epochs strictly increase per job, on the bus and in `job_events`; a transition caused by a
 *   worker result carries the epoch that worker's result echoed (a stale result was never accepted); no worker ran
 *   a lease that was never dispatched;
 * - I5 one compensation per succeeded step, run one at a time in reverse step order, every rollback finished;
 * - I6 every process that was not killed on purpose is alive, and none grew past `rssLimitBytes`.
 * Plus `expect`: each acknowledged job ended in one of the states its submit allowed.
 */
export function checkHistory(h: HistoryInput, options: CheckOptions = {}): HistoryVerdict {
  const violations: Violation[] = [];
  const add = (invariant: Invariant, detail: string, jobId?: string) =>
    violations.push({ invariant, detail, ...(jobId ? { jobId } : {}) });
  const jobs = new Map(h.db.jobs.map((j) => [j.jobId, j]));
  const eventsOf = groupBy(
    [...h.db.events].sort((a, b) => a.seq - b.seq),
    (e) => e.jobId,
  );
  const duplicated = new Set<string>();
  const lost: string[] = [];
  const states: Record<string, number> = {};

  // ---------- I1 (and expected outcomes) ----------
  const holderOf = new Map<string, string>();
  const rejected = new Map<string, string>();
  for (const e of h.events) {
    if (e.kind === 'DUPLICATE' && e.duplicateOf) holderOf.set(e.jobId, e.duplicateOf);
    if (e.kind === 'REJECTED') rejected.set(e.jobId, e.reason);
  }
  const since = options.since ?? 0;
  const submitLetters = new Map(h.submitDeadLetters.map((d) => [d.jobId, d]));
  const acked = h.submits.filter((s) => s.ackedAt !== undefined && s.submittedAt >= since);
  for (const s of acked) {
    const own = jobs.get(s.jobId);
    const holder = own ? undefined : holderOf.get(s.jobId);
    const job = own ?? (holder ? jobs.get(holder) : undefined);
    if (!job) {
      if (rejected.has(s.jobId)) add('expect', `submit was rejected: ${rejected.get(s.jobId)}`, s.jobId);
      else {
        lost.push(s.jobId);
        const letter = submitLetters.get(s.jobId);
        add(
          'I1',
          letter
            ? `acknowledged submit was dead-lettered by the scheduler without a job (${letter.code}: ${letter.reason})`
            : 'acknowledged submit has no job row and no DUPLICATE event',
          s.jobId,
        );
      }
      continue;
    }
    states[job.state] = (states[job.state] ?? 0) + 1;
    if (!isTerminal(job.state)) {
      lost.push(s.jobId);
      add('I1', `acknowledged job is stuck in ${job.state} (attempt ${job.attempt})`, s.jobId);
    } else if (!s.expect.includes(job.state)) {
      const why = [job.dlqReason, job.errorMessage].filter(Boolean).join(': ');
      add('expect', `ended ${job.state}${why ? ` (${why})` : ''}; expected ${s.expect.join(' or ')}`, s.jobId);
    }
  }

  // ---------- I2 ----------
  for (const [jobId, events] of eventsOf) {
    const terminal = events.filter((e) => isTerminal(e.toState));
    if (terminal.length > 1) {
      duplicated.add(jobId);
      add('I2', `${terminal.length} terminal transitions: ${terminal.map((e) => e.toState).join(', ')}`, jobId);
    }
    const row = jobs.get(jobId);
    if (row && terminal.length === 1 && terminal[0]!.toState !== row.state)
      add('I2', `row says ${row.state} but the terminal event says ${terminal[0]!.toState}`, jobId);
  }
  for (const [jobId, seen] of groupBy(
    h.events.filter((e) => e.kind === 'TRANSITION' && isTerminal(e.state)),
    (e) => e.jobId,
  )) {
    const distinct = new Set(seen.map((e) => e.state));
    if (distinct.size > 1) {
      duplicated.add(jobId);
      add('I2', `clients saw several terminal states: ${[...distinct].join(', ')}`, jobId);
    }
  }
  for (const [key, holders] of groupBy(
    h.db.jobs.filter((j) => j.idempotencyKey !== null),
    (j) => `${j.tenant}\u0000${j.idempotencyKey}`,
  )) {
    if (holders.length > 1) {
      for (const j of holders) duplicated.add(j.jobId);
      add('I2', `${holders.length} jobs hold idempotency key ${key.split('\u0000')[1]}`);
    }
  }
  const doneWork = h.effects.filter((e) => e.phase === 'effect');
  let reexecuted = 0;
  for (const [jobId, effects] of groupBy(doneWork, (e) => e.jobId)) {
    for (const [lease, same] of groupBy(effects, (e) => String(e.epoch))) {
      if (same.length > 1) {
        duplicated.add(jobId);
        add(
          'I2',
          `lease epoch ${lease} executed ${same.length} times (${same.map((e) => e.workerId).join(', ')})`,
          jobId,
        );
      }
    }
    const attempts = new Set(effects.map((e) => e.epoch)).size;
    if (attempts > 1) reexecuted++;
    if (options.maxExecutionsPerJob !== undefined && attempts > options.maxExecutionsPerJob) {
      duplicated.add(jobId);
      add(
        'I2',
        `work done by ${attempts} attempts (epochs ${effects.map((e) => e.epoch).join(', ')}); at most ${options.maxExecutionsPerJob} allowed here`,
        jobId,
      );
    }
  }

  // ---------- I3 ----------
  const kernelAllowed = new Set(
    h.db.policyDecisions.filter((d) => isAllow(d.decision)).map((d) => `${d.jobId}\u0000${d.policySnapshot}`),
  );
  const kernelAuditGaps = new Set<string>();
  const checkAllowed = (job: DbJob | undefined, jobId: string, dispatched: DbEvent | undefined, what: string) => {
    if (!job) return add('I3', `${what}: no job row`, jobId);
    if (!isAllow(job.decision) || !job.policySnapshot)
      return add(
        'I3',
        `${what}: job decision is ${JSON.stringify(job.decision)} with snapshot ${JSON.stringify(job.policySnapshot)}`,
        jobId,
      );
    const events = eventsOf.get(jobId) ?? [];
    if (dispatched && !events.some((e) => ALLOWING_TRANSITIONS.has(e.toState) && e.seq < dispatched.seq))
      add('I3', `${what}: no SCHEDULED transition before DISPATCHED (seq ${dispatched.seq})`, jobId);
    if (options.kernelAudit && !kernelAllowed.has(`${jobId}\u0000${job.policySnapshot}`)) kernelAuditGaps.add(jobId);
  };
  const dbDispatches = h.db.events.filter((e) => e.toState === 'DISPATCHED');
  for (const e of dbDispatches) checkAllowed(jobs.get(e.jobId), e.jobId, e, `dispatch of attempt ${e.attempt}`);
  const recorded = new Set(dbDispatches.map((e) => `${e.jobId}\u0000${e.attempt}\u0000${e.leaseEpoch}`));
  for (const d of h.dispatches) {
    if (!recorded.has(`${d.jobId}\u0000${d.attempt}\u0000${d.epoch}`))
      add('I3', `dispatch ${d.attempt}.${d.epoch} on ${d.subject} was never recorded as DISPATCHED`, d.jobId);
  }

  // ---------- I4 ----------
  for (const [jobId, events] of eventsOf) {
    const dispatched = events.filter((e) => e.toState === 'DISPATCHED');
    for (let i = 1; i < dispatched.length; i++) {
      const [a, b] = [dispatched[i - 1]!, dispatched[i]!];
      if (!(b.attempt > a.attempt && b.leaseEpoch > a.leaseEpoch))
        add('I4', `recorded dispatch ${b.attempt}.${b.leaseEpoch} follows ${a.attempt}.${a.leaseEpoch}`, jobId);
    }
  }
  for (const [jobId, seen] of groupBy(h.dispatches, (d) => d.jobId)) {
    for (let i = 1; i < seen.length; i++) {
      const [a, b] = [seen[i - 1]!, seen[i]!];
      // The same lease again to the same worker is a redelivery of an unclaimed direct dispatch, not a new one.
      const redelivery =
        b.epoch === a.epoch && b.attempt === a.attempt && b.workerId !== '' && b.workerId === a.workerId;
      if (!redelivery && !(b.epoch > a.epoch && b.attempt > a.attempt))
        add('I4', `dispatch ${b.attempt}.${b.epoch} was published after ${a.attempt}.${a.epoch}`, jobId);
    }
  }
  const resultsOf = groupBy(h.results, (r) => r.jobId);
  let unverifiedResults = 0;
  for (const e of h.db.events) {
    if (!RESULT_REASONS.has(e.reason)) continue;
    const fromWorker = (resultsOf.get(e.jobId) ?? []).filter((r) => r.workerId === e.workerId);
    if (fromWorker.length === 0) {
      unverifiedResults++;
      continue;
    }
    if (!fromWorker.some((r) => r.epoch === undefined || r.epoch === e.leaseEpoch)) {
      add(
        'I4',
        `${e.toState} (${e.reason}) accepted at epoch ${e.leaseEpoch}, but ${e.workerId} only sent results for epochs ${fromWorker.map((r) => r.epoch).join(', ')}: a stale result was accepted`,
        e.jobId,
      );
    }
  }
  const dispatchedLeases = new Set(dbDispatches.map((e) => `${e.jobId}\u0000${e.leaseEpoch}`));
  for (const e of h.effects) {
    if (!dispatchedLeases.has(`${e.jobId}\u0000${e.epoch}`) && jobs.has(e.jobId))
      add('I4', `${e.workerId} ran epoch ${e.epoch}, which was never dispatched`, e.jobId);
  }

  // ---------- I5 ----------
  const compensationJobs = h.db.jobs.filter((j) => j.compensationOf !== '');
  const stepOf = new Map(h.db.compensations.map((c) => [c.jobId, c]));
  for (const rb of h.db.rollbacks) {
    const ofWorkflow = compensationJobs
      .filter((j) => j.workflowId === rb.workflowId && j.tenant === rb.tenant)
      .sort((a, b) => a.createdAt - b.createdAt);
    for (const [step, comps] of groupBy(ofWorkflow, (j) => j.compensationOf)) {
      if (comps.length > 1) add('I5', `step ${step} was compensated ${comps.length} times`, step);
    }
    for (let i = 1; i < ofWorkflow.length; i++) {
      const [a, b] = [ofWorkflow[i - 1]!, ofWorkflow[i]!];
      const [sa, sb] = [stepOf.get(a.compensationOf)?.stepIndex, stepOf.get(b.compensationOf)?.stepIndex];
      if (sa !== undefined && sb !== undefined && sb > sa)
        add('I5', `workflow ${rb.workflowId}: compensation of step ${sb} ran after step ${sa}'s`, b.jobId);
      if (a.finishedAt === null || b.createdAt < a.finishedAt)
        add('I5', `workflow ${rb.workflowId}: ${b.jobId} started before ${a.jobId} finished`, b.jobId);
    }
    const steps = h.db.compensations.filter((c) => c.workflowId === rb.workflowId && c.tenant === rb.tenant);
    if (rb.finishedAt === null)
      add('I5', `rollback of workflow ${rb.workflowId} (triggered by ${rb.triggerJobId}) never finished`);
    else if (ofWorkflow.length !== steps.length)
      add(
        'I5',
        `workflow ${rb.workflowId}: ${steps.length} steps to compensate, ${ofWorkflow.length} compensations ran`,
      );
  }

  // ---------- I6 ----------
  const rssLimit = options.rssLimitBytes ?? GIB;
  for (const p of h.processes) {
    // A death before `since` was reported by the fault that caused it.
    if (p.expectedAlive && !p.alive && (p.exitedAt ?? since) >= since)
      add('I6', `${p.name} died (${p.exit ?? 'unknown exit'})`);
    if (p.peakRssBytes > rssLimit)
      add('I6', `${p.name} reached ${Math.round(p.peakRssBytes / 2 ** 20)} MiB RSS (limit ${rssLimit / 2 ** 20} MiB)`);
  }

  return {
    jobs: acked.length,
    lost,
    duplicated: [...duplicated],
    violations,
    stats: {
      states,
      dispatches: h.dispatches.filter((d) => d.at >= since).length,
      results: h.results.filter((r) => r.at >= since).length,
      staleRefused: h.refusals.filter((r) => r.code === '202' && r.at >= since).length,
      reexecuted,
      unverifiedResults,
      kernelAuditGaps: [...kernelAuditGaps],
      rollbacks: h.db.rollbacks.length,
      compensations: compensationJobs.length,
    },
  };
}
