import { randomBytes } from 'node:crypto';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import {
  type Bus,
  type BusSubscription,
  type CapstanStreamOptions,
  capstanStreams,
  type HandlerContext,
  PacketRejectedError,
} from '@capstan/bus';
import { ApprovalAppliedSchema, ApprovalDecidedSchema } from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import {
  GetJobRequestSchema,
  GetJobResponseSchema,
  JobEventKind,
  JobEventSchema,
  RetryDeadLetterRequestSchema,
  RetryDeadLetterResponseSchema,
} from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import {
  JobCancelSchema,
  type JobRequest,
  JobRequestSchema,
  JobResultSchema,
} from '@capstan/gen/cordum/agent/v1/job_pb';
import { DecisionType, type PolicyCheckResponse } from '@capstan/gen/cordum/agent/v1/safety_pb';
import {
  backoffDelay,
  createRoutingTable,
  createWorkerRegistry,
  isTerminal,
  type JobState,
  type RoutingConfig,
  type RoutingTable,
  resultOutcome,
  selectWorker,
  servesRoute,
  toWireStatus,
  type WorkerInfo,
  type WorkerRegistry,
} from '@capstan/jobs';
import {
  CapstanHeaders,
  CapstanSubjects,
  capErrorString,
  DEFAULT_TENANT,
  formatLease,
  isSubjectToken,
  isValidSubject,
  JOB_SUBJECT_PREFIX,
  jobEventsSubject,
  jobSubject,
  type PacketOf,
  parseLease,
  SCHEDULER_QUEUE_GROUP,
  Streams,
  Subjects,
  workerJobsSubject,
} from '@capstan/protocol';
import { type CapstanDatabase, createStatisticsKeeper, isDatabaseUnavailable } from '@capstan/store';
import type { Kysely } from 'kysely';
import { type Logger, pino } from 'pino';
import { Registry } from 'prom-client';
import { type JobRecord, toSnapshot } from './job-record.js';
import { createJobRepository, type JobRepository } from './job-repository.js';
import { createKeyedMutex } from './keyed-mutex.js';
import {
  activeLimitAt,
  type ChangeBuilder,
  change,
  deadlineFrom,
  dueAction,
  holdsDispatchLease,
  type JobChange,
  type JobLimits,
  nextActionAt,
} from './lifecycle.js';
import {
  approvalMismatch,
  constraintsRecord,
  growingDelay,
  PolicyWaitReason,
  tenantConcurrencyLimit,
} from './policy-gate.js';
import {
  allowAllPolicy,
  FAIL_OPEN_SNAPSHOT,
  isPermanentPolicyRefusal,
  type PolicyPort,
  policyRequestFor,
} from './policy-port.js';
import {
  COMPENSATION_OF_LABEL,
  compensationRequest,
  dispatchRequest,
  MAX_JOB_ID_LENGTH,
  retryRequest,
} from './requests.js';
import { createSchedulerMetrics } from './scheduler-metrics.js';

/** Timing knobs of the scheduler. Every field has a default. */
export interface SchedulerTimings {
  /** How often each replica looks at its jobs' timers and its workers' liveness; @default 200 */
  sweepIntervalMs?: number;
  /**
   * How often each replica re-reads the rows of the running jobs it holds in memory and has not written for that
   * long. Results and cancels go to whichever replica takes them, so another replica may have ended such a job;
   * without this its copy would stay until its running timeout (and a full cache would take no new jobs). @default 10000
   */
  cacheCheckMs?: number;
  /** How often the leader scans Postgres for overdue jobs, lost dispatches and stalled rollbacks; @default 1000 */
  reconcileIntervalMs?: number;
  /** The leader's lease; another replica takes over this long after the leader dies; @default 5000 */
  leaderLeaseMs?: number;
  /** A job the owning replica hasn't handled this long past due is taken over by the leader; @default 1500 */
  overdueGraceMs?: number;
  /** How long a job waits for a live worker before FAILED + DLQ `no_workers`; @default 60000 */
  noWorkerWaitMs?: number;
  /** After a cancel, how long a running job may take to stop before it is ended CANCELLED anyway; @default 5000 */
  cancelGraceMs?: number;
  /** Re-check delay when the policy says THROTTLE, and the first one when it can't be reached; @default 1000 */
  policyRecheckMs?: number;
  /** Longest re-check delay while the kernel stays unreachable (the delay grows with the wait); @default 10000 */
  policyRecheckMaxMs?: number;
  /** Timeout of one policy Check (an outer bound; the kernel client has its own); @default 2000 */
  policyTimeoutMs?: number;
  /**
   * First re-read of a parked job's approval (APPROVAL_REQUIRED); the interval grows with the wait. The kernel's
   * `capstan.ctl.job.approval` message applies a decision at once; this is the safety net. @default 2000
   */
  approvalPollMs?: number;
  /** Longest interval between approval re-reads; @default 60000 */
  approvalPollMaxMs?: number;
  /**
   * How often a job held by `max_concurrent_jobs` re-counts its tenant's running jobs. A job finishing on this
   * replica releases the next one at once; this covers slots freed on other replicas. @default 1000
   */
  tenantConcurrencyPollMs?: number;
  /**
   * How long a replica needs after it starts to have heard every live worker (CAP workers beat every 0.5–5 s; the
   * worker registry waits 15 s for a worker whose interval it does not know yet). Until then an unknown worker is
   * not a dead one: the leader doesn't re-dispatch jobs held by workers it hasn't heard, and a dispatch made before
   * the replica started isn't declared lost for want of a busy worker in its pool. @default 15000
   */
  workerDiscoveryMs?: number;
  /**
   * Lost work on a live worker: a Capstan worker (one that advertised direct dispatch, so its heartbeat's
   * `active_jobs` counts every job it holds, queued or running) that reports none while Postgres says it holds a job
   * last written this long ago, and still does this long later, never got the dispatch or its result never arrived
   * (the scheduler died between commit and publish, or nats-server restarted). The job is re-dispatched then. Twice
   * this bounds how long such a job waits; it also has to cover a backlog of results not yet handled. @default 5000
   */
  lostWorkGraceMs?: number;
  /**
   * A direct dispatch still unclaimed this long is published again, same attempt and lease, to the same worker: a
   * Capstan worker drops a copy of a dispatch it already holds, and runs one it never got (the scheduler died
   * between commit and publish, nats-server restarted). Repeated at this interval while the worker lives. @default 5000
   */
  redeliverDirectMs?: number;
  /** How often a replica with `maxOpenJobs` counts the queued and running jobs in Postgres; @default 100 */
  admissionPollMs?: number;
  /** Backoff between attempts after FAILED_RETRYABLE; @default base 500 ms, max 30 s, half jitter */
  retryBackoff?: { baseMs?: number; maxMs?: number; jitter?: number };
}

/** Options for {@link createScheduler}. */
export interface SchedulerOptions {
  bus: Bus;
  /** Kysely over Postgres or PGlite, migrated (`@capstan/store`). */
  db: Kysely<CapstanDatabase>;
  /** @default bus.senderId */
  schedulerId?: string;
  /** @default {@link allowAllPolicy} */
  policy?: PolicyPort;
  /**
   * Kernel unreachable → allow instead of waiting: the job is recorded with snapshot and rule `fail-open`, its
   * dispatched request is labelled `capstan.policy: fail-open`, a warning is logged and
   * `capstan_policy_fail_open_total` counts it. @default false (fail closed: the job waits and is re-checked)
   */
  failOpen?: boolean;
  /** Topic → pool routes; pass a function to reload live. @default every topic is its own pool */
  routing?: RoutingConfig | (() => RoutingTable);
  timings?: SchedulerTimings;
  /** @default a silent logger */
  logger?: Logger;
  /** Prometheus registry for the scheduler (and a `/metrics` endpoint); @default a private one */
  registry?: Registry;
  /** Largest group-commit batch; @default 500 */
  maxBatch?: number;
  /** Group-commit transactions at once (1 for PGlite); @default 2 */
  maxConcurrentFlushes?: number;
  /**
   * Changes waiting before a group commit starts beside a running one: fewer wait for it and go in the next, bigger
   * batch (a statement's fixed cost is most of a small batch's). @default 32
   */
  concurrentFlushAfter?: number;
  /** Non-terminal jobs kept in memory; beyond it jobs are handled from Postgres by the reconciler; @default 100000 */
  maxCachedJobs?: number;
  /** Replicas and submit backlog bound of the JetStream streams this replica creates or updates. */
  streams?: CapstanStreamOptions;
  /**
   * Admission bound: while this replica holds this many jobs that are queued or running (PENDING, SCHEDULED,
   * DISPATCHED, RUNNING, RETRYING; not those waiting for an approval), it takes no new submits from the stream, so
   * the submit backlog fills and JetStream refuses further submits (`CAPSTAN_SUBMIT_BACKLOG_MAX`; the gateway
   * answers 429). Without it a scheduler that records submits faster than workers finish them moves the whole
   * overload into Postgres. @default no bound
   */
  maxOpenJobs?: number;
  /**
   * Also VACUUM the job tables when the reconciler leader refreshes their statistics: for embedded PGlite, which has
   * no autovacuum. Leave it off on PostgreSQL. @default false
   */
  vacuumJobTables?: boolean;
}

/** A running scheduler replica. */
export interface Scheduler {
  readonly id: string;
  readonly workers: WorkerRegistry;
  readonly metrics: Registry;
  /** Accepts a job request (what a `sys.job.submit` packet does). Resolves once the row committed. */
  accept(req: JobRequest, meta?: { traceId?: string; senderId?: string }): Promise<AcceptResult>;
  getJob(jobId: string): Promise<JobRecord | undefined>;
  /** Re-submits a dead-lettered job as a new job linked to the old one. */
  retryDeadLetter(dlqId: string, opts?: { tenant?: string; requestedBy?: string }): Promise<{ newJobId: string }>;
  /** Cancels a job (like a `JobCancel` packet). */
  cancel(jobId: string, reason: string, requestedBy?: string): Promise<JobRecord | undefined>;
  isLeader(): boolean;
  readonly repository: JobRepository;
  /** Stops consuming, waits for in-flight work and queued writes. Does not close the bus or the database. */
  stop(): Promise<void>;
}

/** What became of an accepted request. */
export type AcceptResult =
  | { status: 'created'; job: JobRecord }
  | { status: 'duplicate'; jobId: string; duplicateOf: string }
  | { status: 'exists'; jobId: string };

/** Thrown for requests the scheduler refuses before a job exists. */
export class InvalidJobRequestError extends PacketRejectedError {
  override name = 'InvalidJobRequestError';
}

const ID_PATTERN = new RegExp(`^[A-Za-z0-9_\\-:]{1,${MAX_JOB_ID_LENGTH}}$`);
const NEVER_ABORTED = new AbortController().signal;
const ACTIVE = new Set<JobState>(['DISPATCHED', 'RUNNING']);
/** JetStream ack wait of the submit and result consumers (handlers in progress extend it). */
const CONSUMER_ACK_WAIT_MS = 5000;
/** Returned by a `withJob` step that refuses the packet it handles (see `withJob`). */
const REFUSE = Symbol('refuse');

/** Validates ids and topic of a request; throws InvalidJobRequestError naming the field and the expected form. */
export function validateJobRequest(req: JobRequest): { tenant: string } {
  if (!ID_PATTERN.test(req.jobId)) {
    throw new InvalidJobRequestError(
      'INVALID_INPUT',
      `job_id ${JSON.stringify(req.jobId)} is invalid: expected 1-${MAX_JOB_ID_LENGTH} chars of [A-Za-z0-9_-:]`,
    );
  }
  if (!req.topic.startsWith(JOB_SUBJECT_PREFIX) || !isValidSubject(req.topic)) {
    throw new InvalidJobRequestError(
      'INVALID_INPUT',
      `topic ${JSON.stringify(req.topic)} is invalid: expected a NATS subject starting with "job.", e.g. "job.echo"`,
    );
  }
  const tenant = req.tenantId || req.meta?.tenantId || DEFAULT_TENANT;
  if (!isSubjectToken(tenant) || tenant.length > 128) {
    throw new InvalidJobRequestError(
      'INVALID_INPUT',
      `tenant ${JSON.stringify(tenant)} is invalid: expected 1-128 chars of [A-Za-z0-9_-:]`,
    );
  }
  return { tenant };
}

/** Creates and starts a scheduler replica: consumes submits, results, progress, cancels, heartbeats and handshakes. */
export async function createScheduler(opts: SchedulerOptions): Promise<Scheduler> {
  const { bus, db } = opts;
  const id = opts.schedulerId ?? bus.senderId;
  const logger = opts.logger ?? pino({ level: 'silent' });
  const policy = opts.policy ?? allowAllPolicy;
  const registry = opts.registry ?? new Registry();
  const metrics = createSchedulerMetrics(registry);
  const t = {
    sweepIntervalMs: 200,
    cacheCheckMs: 10_000,
    reconcileIntervalMs: 1000,
    leaderLeaseMs: 5000,
    overdueGraceMs: 1500,
    noWorkerWaitMs: 60_000,
    cancelGraceMs: 5000,
    policyRecheckMs: 1000,
    policyRecheckMaxMs: 10_000,
    policyTimeoutMs: 2000,
    approvalPollMs: 2000,
    approvalPollMaxMs: 60_000,
    tenantConcurrencyPollMs: 1000,
    workerDiscoveryMs: 15_000,
    lostWorkGraceMs: 5000,
    redeliverDirectMs: 5000,
    admissionPollMs: 100,
    ...opts.timings,
    retryBackoff: { baseMs: 500, maxMs: 30_000, jitter: 0.5, ...opts.timings?.retryBackoff },
  };
  const routingSource = opts.routing;
  const staticTable = typeof routingSource === 'function' ? undefined : createRoutingTable(routingSource ?? {});
  const routing = (): RoutingTable => (typeof routingSource === 'function' ? routingSource() : staticTable!);
  const limitsOf = (r: JobRecord): JobLimits => {
    const route = routing().route(r.topic);
    return {
      dispatchTimeoutMs: route.dispatchTimeoutMs,
      runningTimeoutMs: route.runningTimeoutMs,
      cancelGraceMs: t.cancelGraceMs,
    };
  };
  const repo = createJobRepository(db, {
    maxBatch: opts.maxBatch ?? 500,
    maxConcurrentFlushes: opts.maxConcurrentFlushes ?? 2,
    ...(opts.concurrentFlushAfter !== undefined ? { concurrentFlushAfter: opts.concurrentFlushAfter } : {}),
  });
  const workers = createWorkerRegistry();
  const mutex = createKeyedMutex();
  const idempotencyMutex = createKeyedMutex();
  // Serializes count-then-dispatch of jobs limited by max_concurrent_jobs, per tenant (taken before a job's mutex).
  const tenantMutex = createKeyedMutex();
  const cache = new Map<string, JobRecord>();
  const maxCached = opts.maxCachedJobs ?? 100_000;
  const busy = new Set<string>();
  const startedAt = Date.now();
  let leaderEpoch: number | undefined;
  let stopping = false;

  // ---------- cache ----------
  // Jobs waiting for a worker, so a heartbeat can wake them without scanning the whole cache.
  const waitingForWorker = new Set<string>();
  // Jobs held by max_concurrent_jobs, per tenant (insertion order = release order), woken when a slot frees up.
  const waitingForTenant = new Map<string, Set<string>>();
  const tenantWait = (tenant: string, jobId: string, waiting: boolean) => {
    if (!waiting && waitingForTenant.size === 0) return; // the common case costs one size check
    const set = waitingForTenant.get(tenant);
    if (waiting) {
      if (set) set.add(jobId);
      else waitingForTenant.set(tenant, new Set([jobId]));
    } else if (set?.delete(jobId) && set.size === 0) waitingForTenant.delete(tenant);
  };
  // The worker a dispatch reserved a slot on, by job: a queue-group dispatch may be taken by another member of the
  // group, and the reservation must come off the worker it was made on (heartbeats reset them anyway).
  const reservations = new Map<string, string>();
  // ---------- admission (maxOpenJobs) ----------
  // The bound is global: every replica counts the queued and running jobs in Postgres (a partial index keeps that
  // cheap) every admissionPollMs, and adds the submits it let through since. A replica's own memory would not do:
  // it does not see the jobs other replicas finish.
  const maxOpenJobs = opts.maxOpenJobs ?? Number.POSITIVE_INFINITY;
  const bounded = Number.isFinite(maxOpenJobs);
  let openJobs = 0;
  // Submits let through and still being recorded, and those recorded since the last count began.
  let inAccept = 0;
  let recordedSinceCount = 0;
  const admissionWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  const submitConcurrency = bounded ? Math.min(256, Math.max(4, Math.ceil(maxOpenJobs / 2))) : 256;
  const hasRoom = () => openJobs + recordedSinceCount + inAccept < maxOpenJobs;
  const wakeAdmission = () => {
    while (admissionWaiters.length > 0 && hasRoom()) {
      inAccept++;
      admissionWaiters.shift()!.resolve();
    }
  };
  /** Waits until this replica may record another submit (see `maxOpenJobs`); pair with {@link admitDone}. */
  const admit = async (): Promise<void> => {
    if (!bounded) return;
    if (stopping) throw new Error('scheduler stopping; submit handed back');
    if (hasRoom() && admissionWaiters.length === 0) {
      inAccept++;
      return;
    }
    metrics.admissionWaits.inc();
    await new Promise<void>((resolve, reject) => admissionWaiters.push({ resolve, reject }));
  };
  const admitDone = () => {
    if (!bounded) return;
    inAccept--;
    recordedSinceCount++;
  };
  /** Stopping: waiting submits go back to the stream (redelivered, to another replica if there is one). */
  const releaseAdmissionWaiters = () => {
    for (const w of admissionWaiters.splice(0)) w.reject(new Error('scheduler stopping; submit handed back'));
  };
  const recountOpenJobs = async () => {
    const before = recordedSinceCount;
    try {
      openJobs = await repo.countOpen();
      // Recorded before the count began: in it. Recorded while it ran: maybe, so keep them (conservative).
      recordedSinceCount -= before;
    } catch (err) {
      logger.warn({ err }, 'cannot count open jobs; admission keeps its last count');
    }
    wakeAdmission();
  };

  /**
   * Gives back the worker slot this replica reserved for a job's dispatch (its result came, it ended otherwise, or
   * it is dispatched again); false when there was none. The slot is the routed worker's, whichever member of the
   * topic's queue group ran the job: freeing another's would leave the routed one looking busy until its next
   * heartbeat, and past 90 % of its slots it would get no jobs at all.
   */
  const unreserve = (jobId: string): boolean => {
    const workerId = reservations.get(jobId);
    if (workerId === undefined) return false;
    reservations.delete(jobId);
    workers.release(workerId, jobId);
    return true;
  };

  const remember = (r: JobRecord) => {
    const prev = cache.get(r.jobId);
    if (prev) metrics.active.dec({ state: prev.state });
    if (isTerminal(r.state)) {
      unreserve(r.jobId);
      cache.delete(r.jobId);
      waitingForWorker.delete(r.jobId);
      tenantWait(r.tenant, r.jobId, false);
      return;
    }
    if (!prev && cache.size >= maxCached) return;
    cache.set(r.jobId, r);
    metrics.active.inc({ state: r.state });
    const waiting = (r.state === 'SCHEDULED' || r.state === 'RETRYING') && r.waitReason !== '';
    const forTenant = waiting && r.waitReason === PolicyWaitReason.tenantConcurrency;
    if (waiting && !forTenant) waitingForWorker.add(r.jobId);
    else waitingForWorker.delete(r.jobId);
    tenantWait(r.tenant, r.jobId, forTenant);
  };
  const forget = (jobId: string) => {
    const prev = cache.get(jobId);
    if (prev) {
      metrics.active.dec({ state: prev.state });
      tenantWait(prev.tenant, jobId, false);
    }
    cache.delete(jobId);
    unreserve(jobId);
    waitingForWorker.delete(jobId);
  };
  const current = async (jobId: string): Promise<JobRecord | undefined> => cache.get(jobId) ?? (await repo.load(jobId));
  /** The row in Postgres, or this replica's copy when it is as new (it also carries unflushed progress). */
  const freshest = async (jobId: string): Promise<JobRecord | undefined> => {
    const stored = await repo.load(jobId);
    const cached = cache.get(jobId);
    return cached && (!stored || cached.version >= stored.version) ? cached : stored;
  };

  // ---------- events out ----------
  const publishEvent = (
    r: JobRecord,
    kind: JobEventKind,
    extra: { previousState?: string; reason?: string; duplicateOf?: string; seq?: number; state?: string } = {},
    // The events of one commit share one snapshot object; it is encoded right away, so re-using it is safe.
    shared?: ReturnType<typeof toSnapshot>,
  ) => {
    const snapshot = shared ?? toSnapshot(r);
    if (extra.state) {
      snapshot.state = extra.state;
      // One commit can carry several transitions (PENDING → SCHEDULED → DISPATCHED); the earlier ones had no worker.
      snapshot.workerId =
        extra.state === 'PENDING' || extra.state === 'SCHEDULED' || extra.state === 'APPROVAL_REQUIRED'
          ? ''
          : r.workerId;
    }
    const ev = create(JobEventSchema, {
      kind,
      job: snapshot,
      previousState: extra.previousState ?? '',
      reason: extra.reason ?? '',
      duplicateOf: extra.duplicateOf ?? '',
      at: timestampFromMs(Date.now()),
      seq: BigInt(extra.seq ?? r.version),
    });
    try {
      bus.publishRaw(jobEventsSubject(r.tenant, r.jobId), toBinary(JobEventSchema, ev));
    } catch (err) {
      logger.warn({ err, job_id: r.jobId }, 'could not publish job event');
    }
  };

  const publishDispatch = (r: JobRecord, redelivery = false) => {
    // The reservation counts from the moment the packet leaves (the commit before it may take a while): a heartbeat
    // arriving in between must not take it over as if the worker had had the job.
    const reservedOn = reservations.get(r.jobId);
    if (reservedOn !== undefined) workers.reserve(reservedOn, r.jobId, Date.now());
    const packet = bus.packet({ case: 'jobRequest', value: dispatchRequest(r) }, { traceId: r.traceId });
    const subject = r.directDispatch && r.workerId ? workerJobsSubject(r.workerId) : jobSubject(r.topic);
    bus.publish(subject, packet, {
      headers: { [CapstanHeaders.lease]: formatLease({ attempt: r.attempt, epoch: r.leaseEpoch }) },
    });
    if (!redelivery && r.dispatchedAt !== null) metrics.dispatchLatency.observe((Date.now() - r.dispatchedAt) / 1000);
  };

  const publishDlq = (r: JobRecord) => {
    const packet = bus.packet(
      {
        case: 'jobResult',
        value: create(JobResultSchema, {
          jobId: r.jobId,
          status: toWireStatus(r.state),
          resultPtr: r.resultPtr,
          workerId: r.workerId,
          errorCode: r.errorCode,
          errorMessage: `${r.dlqReason}: ${r.errorMessage}`,
          artifactPtrs: [...r.artifactPtrs],
        }),
      },
      { traceId: r.traceId },
    );
    bus.publish(Subjects.jobDlq, packet);
  };

  /** Commits a change and, if it won, runs its effects. Returns the committed record or undefined on conflict. */
  const commit = async (c: JobChange): Promise<JobRecord | undefined> => {
    const res = await repo.commit(c);
    if (!res.ok) {
      if (c.expectedVersion !== null) forget(c.record.jobId);
      // An insert that lost (the job exists: another replica or an earlier run accepted it) gives back the slot
      // its routing reserved; this replica has no other reservation for a job it did not know.
      else unreserve(c.record.jobId);
      return undefined;
    }
    const r = c.record;
    remember(r);
    if (waitingForTenant.size > 0) {
      let freed = 0;
      for (const e of c.events) if (ACTIVE.has(e.fromState as JobState) && !ACTIVE.has(e.toState as JobState)) freed++;
      if (freed > 0) wakeTenant(r.tenant, freed);
    }
    const pool = routing().route(r.topic).pool;
    const snapshot = c.events.length > 0 ? toSnapshot(r) : undefined;
    for (const e of c.events) {
      metrics.transitions.inc({ state: e.toState, topic: pool });
      publishEvent(
        r,
        JobEventKind.TRANSITION,
        {
          previousState: e.fromState,
          reason: e.reason,
          seq: e.seq,
          state: e.toState,
        },
        snapshot,
      );
    }
    const last = c.events.at(-1);
    if (last?.toState === 'DISPATCHED') {
      publishDispatch(r);
      if (r.attempt === 1) metrics.queueWait.observe((Date.now() - r.createdAt) / 1000);
    }
    if (last?.toState === 'RETRYING') metrics.retries.inc({ topic: pool });
    if (c.dlq) {
      metrics.dlq.inc({ reason: c.dlq.reason });
      publishDlq(r);
    }
    if (isTerminal(r.state)) {
      if (r.compensationOf && r.workflowId) void driveRollback(r.tenant, r.workflowId);
      if (res.rollbackStarted) void driveRollback(r.tenant, r.workflowId);
    }
    return r;
  };

  // ---------- decisions ----------
  const checkPolicy = async (r: JobRecord): Promise<PolicyCheckResponse | Error> => {
    if (policy === allowAllPolicy)
      return allowAllPolicy.check(policyRequestFor(r.request, r.tenant), { signal: NEVER_ABORTED });
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), t.policyTimeoutMs);
    try {
      return await policy.check(policyRequestFor(r.request, r.tenant), { signal: ac.signal });
    } catch (err) {
      return err as Error;
    } finally {
      clearTimeout(timer);
    }
  };

  /**
   * Routes an allowed job: dispatch now, wait for a worker, or fail as unroutable / out of waiting time. A job
   * limited by `max_concurrent_jobs` is dispatched only with `tenantActive` (its tenant's DISPATCHED/RUNNING
   * count, taken under the tenant mutex) below the limit; without a count it waits for one (due at once).
   */
  const route = (b: ChangeBuilder, now: number, reason: string, tenantActive?: number): ChangeBuilder => {
    const r = b.record;
    const limit = tenantConcurrencyLimit(r.constraints);
    if (limit > 0 && (tenantActive === undefined || tenantActive >= limit)) {
      return b.set({
        waitReason: PolicyWaitReason.tenantConcurrency,
        waitSince: null,
        nextActionAt: nextActionAt(
          b.record,
          limitsOf(b.record),
          tenantActive === undefined ? now : now + t.tenantConcurrencyPollMs,
        ),
      });
    }
    const resolved = routing().route(r.topic);
    const decision = selectWorker(
      { topic: r.topic, labels: r.request.labels, requires: r.request.meta?.requires ?? [] },
      resolved,
      workers.live(now),
    );
    if (decision.kind === 'worker') {
      unreserve(r.jobId); // a re-dispatch: the previous attempt's slot
      workers.reserve(decision.worker.workerId, r.jobId, now);
      reservations.set(r.jobId, decision.worker.workerId);
      b.to('DISPATCHED', reason, {
        attempt: r.attempt + 1,
        leaseEpoch: r.leaseEpoch + 1,
        workerId: decision.direct ? decision.worker.workerId : '',
        directDispatch: decision.direct,
        dispatchedAt: now,
        startedAt: null,
        waitReason: '',
        waitSince: null,
        progressPct: 0,
        progressMessage: '',
      });
      return b.set({ nextActionAt: nextActionAt(b.record, limitsOf(b.record)) });
    }
    if (decision.kind === 'unroutable') {
      return b
        .to('FAILED', 'unroutable', { errorCode: capErrorString('WORKER_UNAVAILABLE'), errorMessage: decision.reason })
        .dlq('unroutable');
    }
    const waitSince = r.waitSince ?? now;
    if (now - waitSince >= t.noWorkerWaitMs) {
      return b
        .to('FAILED', 'no_workers', {
          errorCode: capErrorString('WORKER_UNAVAILABLE'),
          errorMessage: `no live worker for ${r.topic} (pool ${resolved.pool}) within ${t.noWorkerWaitMs} ms (${decision.reason})`,
        })
        .dlq('no_workers');
    }
    // Waiting jobs are woken by events — a heartbeat from a worker of the pool, or a result freeing a slot — so
    // this poll is only a safety net and can be slow.
    const delay = Math.min(2000, Math.max(250, (now - waitSince) / 2));
    b.set({ waitReason: decision.reason, waitSince });
    return b.set({ nextActionAt: nextActionAt(b.record, limitsOf(b.record), now + delay) });
  };

  /** Applies a policy answer to a PENDING (or re-checked) job. */
  const applyDecision = (b: ChangeBuilder, verdict: PolicyCheckResponse | Error, now: number): ChangeBuilder => {
    const r = b.record;
    if (verdict instanceof Error) {
      if (isPermanentPolicyRefusal(verdict)) {
        logger.warn({ job_id: r.jobId, tenant: r.tenant, err: verdict }, 'safety kernel refused the request: denied');
        return b
          .to('DENIED', 'safety_denied', {
            decision: 'DENY',
            decisionReason: verdict.message,
            waitReason: '',
            errorCode: capErrorString('SAFETY_DENIED'),
            errorMessage: `safety kernel refused the request: ${verdict.message}`,
          })
          .dlq('safety_denied');
      }
      if (opts.failOpen) {
        metrics.policyFailOpen.inc();
        logger.warn(
          { job_id: r.jobId, tenant: r.tenant, topic: r.topic, err: verdict },
          'safety kernel unreachable: failing open (configured); the job is dispatched labelled capstan.policy=fail-open',
        );
        b.to('SCHEDULED', 'policy_fail_open', {
          decision: 'ALLOW',
          decisionReason: `fail-open: ${verdict.message}`,
          policySnapshot: FAIL_OPEN_SNAPSHOT,
          ruleId: FAIL_OPEN_SNAPSHOT,
          waitReason: '',
          waitSince: null,
        });
        return route(b, now, 'dispatched');
      }
      // Fail closed: wait and ask again, less often the longer the kernel stays away.
      metrics.policyWaits.inc({ reason: PolicyWaitReason.unavailable });
      const since = r.waitReason === PolicyWaitReason.unavailable && r.waitSince !== null ? r.waitSince : now;
      const delay = growingDelay(since, now, t.policyRecheckMs, t.policyRecheckMaxMs);
      return b.set({
        waitReason: PolicyWaitReason.unavailable,
        waitSince: since,
        decisionReason: `safety kernel unreachable, re-checking: ${verdict.message}`,
        nextActionAt: nextActionAt(r, limitsOf(r), now + delay),
      });
    }
    const recorded = {
      decision: DecisionType[verdict.decision] ?? String(verdict.decision),
      decisionReason: verdict.reason,
      policySnapshot: verdict.policySnapshot,
      ruleId: verdict.ruleId,
    };
    switch (verdict.decision) {
      case DecisionType.ALLOW:
      case DecisionType.ALLOW_WITH_CONSTRAINTS: {
        const patch: Partial<JobRecord> = { ...recorded, waitReason: '', waitSince: null };
        const c = verdict.constraints;
        if (c) {
          patch.constraints = constraintsRecord(c);
          const budgets = c.budgets;
          // Constraints only tighten: a lower retry budget, an earlier deadline.
          if (budgets?.maxRetries && budgets.maxRetries > 0)
            patch.maxRetries = Math.min(r.maxRetries, budgets.maxRetries);
          if (budgets?.maxRuntimeMs && budgets.maxRuntimeMs > 0n) {
            const byPolicy = now + Number(budgets.maxRuntimeMs);
            patch.deadlineAt = r.deadlineAt === null ? byPolicy : Math.min(r.deadlineAt, byPolicy);
          }
        }
        b.to('SCHEDULED', 'policy_allow', patch);
        return route(b, now, 'dispatched');
      }
      case DecisionType.DENY:
        return b
          .to('DENIED', 'safety_denied', {
            ...recorded,
            waitReason: '',
            errorCode: capErrorString('SAFETY_DENIED'),
            errorMessage: verdict.reason || 'denied by policy',
          })
          .dlq('safety_denied');
      case DecisionType.REQUIRE_HUMAN:
        b.to('APPROVAL_REQUIRED', 'approval_required', {
          ...recorded,
          approvalRef: verdict.approvalRef,
          waitReason: PolicyWaitReason.approval,
          waitSince: now,
        });
        return b.set({ nextActionAt: nextActionAt(b.record, limitsOf(b.record), now + t.approvalPollMs) });
      case DecisionType.THROTTLE:
        metrics.policyWaits.inc({ reason: PolicyWaitReason.throttled });
        return b.set({
          ...recorded,
          waitReason: PolicyWaitReason.throttled,
          waitSince: r.waitSince ?? now,
          nextActionAt: nextActionAt(r, limitsOf(r), now + t.policyRecheckMs),
        });
      default:
        return b
          .to('DENIED', 'safety_denied', {
            ...recorded,
            waitReason: '',
            errorCode: capErrorString('POLICY_VIOLATION'),
            errorMessage: `unsupported policy decision ${verdict.decision}`,
          })
          .dlq('safety_denied');
    }
  };

  /**
   * Re-reads the approval of a parked (APPROVAL_REQUIRED) job and applies it: APPROVED and still bound to the
   * job's request hash and snapshot → SCHEDULED and routed; APPROVED but no longer matching → PENDING for a fresh
   * Check; REJECTED → DENIED + DLQ `approval_rejected`; expired → TIMEOUT + DLQ `approval_expired` (the row is
   * marked EXPIRED); still pending → read again later.
   */
  const applyApproval = async (cur: JobRecord, now: number): Promise<JobChange> => {
    const b = change(cur, now);
    const id = cur.approvalRef;
    const recheck = (why: string) => {
      metrics.approvals.inc({ outcome: 'mismatch' });
      logger.info({ job_id: cur.jobId, approval_id: id, why }, 'approval no longer applies: re-checking');
      return b
        .to('PENDING', 'approval_mismatch', {
          approvalRef: '',
          decision: '',
          decisionReason: `approval ${id} no longer applies (${why}); re-checking`,
          waitReason: '',
          waitSince: null,
        })
        .set({ nextActionAt: now })
        .build();
    };
    let row = id ? await repo.getApproval(id) : undefined;
    // A row of another job never decides this one: ask the kernel again.
    if (row && row.jobId !== cur.jobId) return recheck(`it belongs to job ${row.jobId}`);
    if (row?.state === 'PENDING' && row.expiresAt <= now) {
      // Expire it first: if a human decided in the meantime, that decision wins.
      row = (await repo.expireApproval(row.approvalId))
        ? { ...row, state: 'EXPIRED' }
        : await repo.getApproval(row.approvalId);
    }
    switch (row?.state) {
      case 'APPROVED': {
        const mismatch = approvalMismatch(cur, row, policy.activeSnapshot?.() ?? '');
        if (mismatch) return recheck(mismatch);
        metrics.approvals.inc({ outcome: 'approved' });
        logger.info({ job_id: cur.jobId, approval_id: id, by: row.decidedBy }, 'approval applied: dispatching');
        b.to('SCHEDULED', 'approved', {
          decision: 'ALLOW',
          decisionReason: `approved by ${row.decidedBy || 'unknown'}: ${row.decisionReason}`,
          waitReason: '',
          waitSince: null,
        });
        return route(b, now, 'dispatched').build();
      }
      case 'REJECTED': {
        metrics.approvals.inc({ outcome: 'rejected' });
        const message = `approval ${id} rejected by ${row.decidedBy || 'unknown'}: ${row.decisionReason}`;
        return b
          .to('DENIED', 'approval_rejected', {
            decision: 'DENY',
            decisionReason: message,
            waitReason: '',
            errorCode: capErrorString('SAFETY_DENIED'),
            errorMessage: message,
          })
          .dlq('approval_rejected')
          .build();
      }
      case 'EXPIRED':
        metrics.approvals.inc({ outcome: 'expired' });
        return b
          .to('TIMEOUT', 'approval_expired', {
            waitReason: '',
            errorCode: capErrorString('JOB_TIMEOUT'),
            errorMessage: `approval ${id} expired at ${new Date(row.expiresAt).toISOString()} without a decision`,
          })
          .dlq('approval_expired')
          .build();
      default: {
        if (!row) logger.debug({ job_id: cur.jobId, approval_id: id }, 'approval not found yet; will look again');
        const delay = growingDelay(cur.waitSince ?? cur.updatedAt, now, t.approvalPollMs, t.approvalPollMaxMs);
        const until = row ? Math.min(now + delay, row.expiresAt) : now + delay;
        return b.set({ nextActionAt: nextActionAt(cur, limitsOf(cur), until) }).build();
      }
    }
  };

  /** Applies an approval decided by a human (`capstan.ctl.job.approval`) to its job, if the job still waits for it. */
  const onApprovalDecided = async (q: { approvalId: string; jobId: string; tenant: string }) => {
    const r0 = ID_PATTERN.test(q.jobId) ? await freshest(q.jobId) : undefined;
    if (!r0 || (q.tenant && q.tenant !== r0.tenant)) return { found: false, jobState: '' };
    const r = await withJob(q.jobId, (cur, now) =>
      cur.state === 'APPROVAL_REQUIRED' && cur.approvalRef === q.approvalId ? applyApproval(cur, now) : undefined,
    );
    if (r) runIfDueAgain(r, r0.version);
    // found = the approval is (or was, before a mismatch cleared it) the one this job waits for.
    return { found: r0.approvalRef === q.approvalId, jobState: r?.state ?? r0.state };
  };

  // ---------- intake ----------
  const accept = async (req: JobRequest, meta: { traceId?: string; senderId?: string } = {}): Promise<AcceptResult> => {
    const { tenant } = validateJobRequest(req);
    // Submits sharing an idempotency key are accepted one at a time, in arrival order, so the first one wins
    // (concurrent group commits could otherwise let a later submit take the key).
    const key = req.meta?.idempotencyKey;
    // Submits of one job id (a redelivery, a client's retry) are accepted one at a time too: the second one finds
    // the first in the cache instead of joining its group commit and being dispatched a second time.
    const one = () => mutex.run(req.jobId, () => acceptOne(req, tenant, meta));
    return key ? idempotencyMutex.run(`${tenant}\u0000${key}`, one) : one();
  };

  const acceptOne = async (
    req: JobRequest,
    tenant: string,
    meta: { traceId?: string; senderId?: string },
  ): Promise<AcceptResult> => {
    const cached = cache.get(req.jobId);
    if (cached) return { status: 'exists', jobId: req.jobId };
    const now = Date.now();
    const route0 = routing().route(req.topic);
    const record: JobRecord = {
      jobId: req.jobId,
      tenant,
      topic: req.topic,
      state: 'PENDING',
      version: 1,
      attempt: 0,
      leaseEpoch: 0,
      maxRetries: route0.maxRetries,
      priority: req.priority,
      request: req,
      requestBytes: toBinary(JobRequestSchema, req),
      traceId: meta.traceId || randomBytes(16).toString('hex'),
      senderId: meta.senderId ?? '',
      idempotencyKey: req.meta?.idempotencyKey || null,
      workflowId: req.workflowId,
      parentJobId: req.parentJobId,
      stepIndex: req.stepIndex,
      compensationOf: req.labels[COMPENSATION_OF_LABEL] ?? '',
      workerId: '',
      fencedWorkers: [],
      directDispatch: false,
      resultPtr: '',
      artifactPtrs: [],
      errorCode: '',
      errorMessage: '',
      decision: '',
      decisionReason: '',
      policySnapshot: '',
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
      deadlineAt: deadlineFrom(req.budget?.deadlineMs, now),
      createdAt: now,
      updatedAt: now,
      dispatchedAt: null,
      startedAt: null,
      finishedAt: null,
    };
    const b = change(record, now, { insert: true });
    if (record.deadlineAt !== null && now >= record.deadlineAt) {
      b.to('TIMEOUT', 'deadline_exceeded', {
        errorCode: capErrorString('JOB_TIMEOUT'),
        errorMessage: 'deadline passed before the job was accepted',
      }).dlq('deadline_exceeded');
    } else {
      applyDecision(b, await checkPolicy(record), now);
    }
    const committed = await commit(b.build());
    if (committed) {
      runIfDueAgain(committed, 0);
      return { status: 'created', job: committed };
    }
    if (record.idempotencyKey) {
      const holder = await repo.findByIdempotencyKey(tenant, record.idempotencyKey);
      if (holder && holder !== record.jobId) {
        logger.info({ job_id: record.jobId, duplicate_of: holder, tenant }, 'duplicate submit (idempotency key)');
        publishEvent({ ...record, state: 'PENDING' }, JobEventKind.DUPLICATE, {
          duplicateOf: holder,
          reason: 'idempotency_key',
        });
        return { status: 'duplicate', jobId: record.jobId, duplicateOf: holder };
      }
    }
    return { status: 'exists', jobId: record.jobId };
  };

  // ---------- lifecycle actions on existing jobs (always under the job's mutex) ----------
  /** Runs `fn` on the freshest record, retrying on a lost compare-and-set. */
  /**
   * Runs `fn` on the job's record and commits what it returns, re-reading the row on a version conflict. `fn` returns
   * {@link REFUSE} to refuse a packet (stale lease, wrong state): another replica may have moved the job since this
   * replica cached it, so a refusal based on a cached record is only final once the row in Postgres agrees.
   */
  const withJob = (
    jobId: string,
    fn: (
      r: JobRecord,
      now: number,
    ) => JobChange | undefined | typeof REFUSE | Promise<JobChange | undefined | typeof REFUSE>,
    known?: JobRecord,
  ) =>
    mutex.run(jobId, async () => {
      let r = known ?? (await current(jobId));
      let verified = known === undefined && !cache.has(jobId);
      for (let i = 0; i < 5 && r; i++) {
        const c = await fn(r, Date.now());
        if (c === REFUSE) {
          if (verified) return r;
          const fresh = await repo.load(jobId);
          verified = true;
          if (!fresh || fresh.version === r.version) return r;
          // Another replica moved the job: remember the real row and decide again.
          remember(fresh);
          r = fresh;
          continue;
        }
        if (!c) return r;
        const committed = await commit(c);
        if (committed) return committed;
        r = await repo.load(jobId);
        verified = true;
      }
      // Five changes by other replicas in a row: give up loudly rather than let the caller take "nothing to do" for
      // an answer (a result would be acknowledged unapplied). The packet is redelivered; a timer runs again.
      if (r) throw new Error(`job ${jobId} kept changing under five attempts to update it; try again`);
      return r;
    });

  const retryOrFail = (b: ChangeBuilder, now: number, reason: string, patch: Partial<JobRecord>): ChangeBuilder => {
    const r = b.record;
    // A job whose cancel is pending is never run again: losing its worker (or the worker's abort answered as a
    // retryable failure) ends it CANCELLED.
    if (r.cancelRequested)
      return b.to('CANCELLED', 'cancelled', {
        ...patch,
        errorCode: '',
        errorMessage: r.errorMessage || 'cancelled',
      });
    const leaseLoss = reason === 'lease_expired' || reason === 'dispatch_lost' || reason === 'result_lost';
    if (r.attempt <= r.maxRetries) {
      b.to('RETRYING', reason, {
        ...patch,
        workerId: '',
        directDispatch: false,
        // Only a worker that lost its lease is fenced (it may wake up and report an attempt it no longer owns). A
        // worker that reported its own retryable failure is done with that attempt, and may well be the one the
        // queue group hands the retry to: a CAP worker echoes no lease, so fencing it would refuse its retry's
        // progress and result.
        fencedWorkers: leaseLoss && r.workerId ? [...r.fencedWorkers, r.workerId].slice(-16) : r.fencedWorkers,
      });
      const delay = leaseLoss ? 0 : backoffDelay(r.attempt, t.retryBackoff);
      return b.set({ nextActionAt: nextActionAt(b.record, limitsOf(b.record), now + delay) });
    }
    return b
      .to('FAILED', 'max_retries_exceeded', {
        ...patch,
        errorMessage: `${patch.errorMessage ?? r.errorMessage} (gave up after ${r.attempt} attempts)`.trim(),
      })
      .dlq('max_retries_exceeded');
  };

  /** Re-dispatches (or ends) a job whose worker lost it; never rejects (its callers fire and forget). */
  const leaseLost = (r: JobRecord, reason: 'lease_expired' | 'dispatch_lost' | 'result_lost') =>
    withJob(
      r.jobId,
      (cur, now) => {
        if (!ACTIVE.has(cur.state) || cur.leaseEpoch !== r.leaseEpoch) return undefined;
        metrics.leaseExpiries.inc({ reason });
        logger.warn(
          { job_id: cur.jobId, worker_id: cur.workerId, attempt: cur.attempt, reason },
          'dispatch lost its worker; re-dispatching',
        );
        return retryOrFail(change(cur, now), now, reason, {
          errorCode: capErrorString('WORKER_UNAVAILABLE'),
          errorMessage:
            reason === 'lease_expired'
              ? `worker ${cur.workerId} stopped heartbeating`
              : reason === 'result_lost'
                ? `worker ${cur.workerId} no longer holds the job, and its result never arrived`
                : 'no worker picked the job up in time',
        }).build();
      },
      r,
    ).catch((err: unknown) => {
      // The database is down or busy: the job keeps its row, and the leader's reconcile finds it again.
      logger.error({ err, job_id: r.jobId, reason }, 'could not re-dispatch a job that lost its worker');
      return undefined;
    });

  // ---------- dispatch leases of unclaimed queue-group jobs ----------
  /**
   * Live workers of the job's pool that report active jobs. Nobody knows which member of a queue group took an
   * unclaimed dispatch (CAP SDK workers publish neither progress nor RUNNING): while one of them is busy, it may be
   * running the job, so the job's dispatch lease is renewed instead of the job being run a second time. Capstan
   * workers (those that advertise direct dispatch) claim every topic delivery on arrival, so their activity never
   * explains an unclaimed job.
   */
  const busyPoolWorkers = (r: JobRecord, now: number): WorkerInfo[] => {
    const route = routing().route(r.topic);
    return workers.live(now).filter((w) => w.activeJobs > 0 && !w.directDispatch && servesRoute(w, route));
  };

  /** Past its first dispatch timeout, an unclaimed job's lease lives only on its pool's reported activity. */
  const leaseRenewedByPool = (r: JobRecord, now: number) =>
    now >= (r.dispatchedAt ?? r.updatedAt) + limitsOf(r).dispatchTimeoutMs;

  /**
   * True while this replica may not have heard every worker yet and the job was dispatched before it started: an
   * empty or partial registry then proves nothing about where the job is.
   */
  const beforeDiscovery = (r: JobRecord, now: number) =>
    now - startedAt < t.workerDiscoveryMs && (r.dispatchedAt ?? r.updatedAt) < startedAt;

  /**
   * Busy workers of the job's pool stopped heartbeating. A job kept alive only by its pool's activity is lost now —
   * not a dispatch timeout later — unless another live worker of the pool still reports work.
   */
  const poolLeaseLost = (r: JobRecord, gone: readonly WorkerInfo[]) =>
    withJob(
      r.jobId,
      (cur, now) => {
        if (!holdsDispatchLease(cur) || cur.leaseEpoch !== r.leaseEpoch || !leaseRenewedByPool(cur, now))
          return undefined;
        if (busyPoolWorkers(cur, now).length > 0 || beforeDiscovery(cur, now)) return undefined;
        const ids = gone.map((w) => w.workerId).join(', ');
        metrics.leaseExpiries.inc({ reason: 'lease_expired' });
        logger.warn(
          { job_id: cur.jobId, attempt: cur.attempt, workers: ids },
          'busy workers of an unclaimed dispatch stopped heartbeating and no other worker of its pool reports work; re-dispatching',
        );
        return retryOrFail(change(cur, now), now, 'lease_expired', {
          errorCode: capErrorString('WORKER_UNAVAILABLE'),
          errorMessage: `worker ${ids} of pool ${routing().route(cur.topic).pool} stopped heartbeating while busy and no other worker of the pool reports work`,
        }).build();
      },
      r,
    ).catch((err) => logger.error({ err, job_id: r.jobId }, 'could not re-dispatch a job whose pool went silent'));

  const cancelToWorker = (r: JobRecord, reason: string) => {
    if (!(r.directDispatch && r.workerId)) return;
    bus.publish(
      workerJobsSubject(r.workerId),
      bus.packet(
        { case: 'jobCancel', value: create(JobCancelSchema, { jobId: r.jobId, reason, requestedBy: id }) },
        { traceId: r.traceId },
      ),
    );
  };

  /**
   * Acts on a job whose next action is due. Dispatching a job limited by `max_concurrent_jobs` counts its tenant's
   * running jobs and commits under the tenant mutex, so two of this replica's jobs can't both take the last slot.
   */
  const onDue = (r: JobRecord) =>
    (r.state === 'SCHEDULED' || r.state === 'RETRYING') && tenantConcurrencyLimit(r.constraints) > 0
      ? tenantMutex.run(r.tenant, () => onDueWith(r, true))
      : onDueWith(r, false);

  /** Tells whoever runs `r` to stop (its direct worker, or every queue-group member through sys.job.cancel). */
  const stopRunning = (r: JobRecord, reason: string) => {
    cancelToWorker(r, reason);
    if (!r.directDispatch)
      bus.publish(
        Subjects.jobCancel,
        bus.packet({
          case: 'jobCancel',
          value: create(JobCancelSchema, { jobId: r.jobId, reason, requestedBy: id }),
        }),
      );
  };

  const onDueWith = async (r: JobRecord, tenantLocked: boolean) => {
    // The worker is told to stop only once the TIMEOUT committed: decided on a stale copy (another replica has
    // re-dispatched the job since), the cancel would abort the healthy next attempt.
    let timedOut: { record: JobRecord; reason: string } | undefined;
    const after = await withJob(
      r.jobId,
      async (cur, now) => {
        timedOut = undefined;
        const action = dueAction(cur, limitsOf(cur), now);
        switch (action) {
          case null:
            return undefined;
          case 'deadline':
          case 'running_timeout': {
            if (ACTIVE.has(cur.state)) timedOut = { record: cur, reason: action };
            return change(cur, now)
              .to('TIMEOUT', action === 'deadline' ? 'deadline_exceeded' : 'running_timeout', {
                errorCode: capErrorString('JOB_TIMEOUT'),
                errorMessage:
                  action === 'deadline'
                    ? 'job deadline (budget.deadline_ms) passed'
                    : `job ran longer than the topic's running timeout`,
              })
              .dlq(action === 'deadline' ? 'deadline_exceeded' : 'running_timeout')
              .build();
          }
          case 'cancel_grace':
            return change(cur, now)
              .to('CANCELLED', 'cancel_forced', {
                errorMessage: cur.errorMessage || 'cancelled; the worker did not confirm in time',
              })
              .build();
          case 'dispatch_timeout': {
            const holders = busyPoolWorkers(cur, now);
            if (holders.length > 0) {
              // Renewing is one row write per dispatch timeout, and only for jobs that outlive it; the deadline and
              // the running timeout still end the job (dueAction checks them first).
              metrics.leaseRenewals.inc();
              logger.debug(
                { job_id: cur.jobId, attempt: cur.attempt, busy_workers: holders.map((w) => w.workerId) },
                'unclaimed dispatch: a worker of its pool reports active jobs; lease renewed',
              );
              const b = change(cur, now);
              return b.set({ nextActionAt: nextActionAt(b.record, limitsOf(b.record)) }).build();
            }
            if (beforeDiscovery(cur, now)) {
              // Look again once every worker has had time to beat (in memory only: no write, no event).
              const at = Math.min(startedAt + t.workerDiscoveryMs, activeLimitAt(cur, limitsOf(cur)));
              remember({ ...cur, nextActionAt: at });
              return undefined;
            }
            metrics.leaseExpiries.inc({ reason: 'dispatch_lost' });
            return retryOrFail(change(cur, now), now, 'dispatch_lost', {
              errorCode: capErrorString('WORKER_UNAVAILABLE'),
              errorMessage: 'no worker picked the job up in time',
            }).build();
          }
          case 'resume': {
            if (cur.state === 'PENDING') return applyDecision(change(cur, now), await checkPolicy(cur), now).build();
            if (cur.state === 'APPROVAL_REQUIRED') return applyApproval(cur, now);
            if (cur.state === 'SCHEDULED' || cur.state === 'RETRYING') {
              const gated = tenantLocked && tenantConcurrencyLimit(cur.constraints) > 0;
              const c = route(
                change(cur, now),
                now,
                cur.state === 'RETRYING' ? 'retry_dispatched' : 'dispatched',
                gated ? await repo.countActive(cur.tenant) : undefined,
              ).build();
              // Still waiting for the same reason: keep the new retry time in memory only, and touch the row only
              // now and then (so the leader doesn't mistake the job for an orphan) — not on every attempt.
              const same = c.events.length === 0 && !c.dlq && c.record.waitReason === cur.waitReason;
              if (same && now - cur.updatedAt < t.overdueGraceMs / 2) {
                remember({ ...cur, nextActionAt: c.record.nextActionAt });
                return undefined;
              }
              return c;
            }
            return undefined;
          }
        }
      },
      r,
    );
    // `timedOut` is set only by the run of `fn` whose change was committed (a conflict re-runs it on the fresh row).
    if (timedOut && after?.state === 'TIMEOUT') stopRunning(timedOut.record, timedOut.reason);
    return after;
  };

  // ---------- results, progress, cancels ----------
  /** Why a worker message about a job must be ignored (fencing), or undefined when it is current. */
  const fenceCheck = (r: JobRecord, workerId: string, leaseHeader: string | undefined): string | undefined => {
    const lease = parseLease(leaseHeader);
    if (lease)
      return lease.epoch === r.leaseEpoch ? undefined : `stale lease epoch ${lease.epoch} (current ${r.leaseEpoch})`;
    if (workerId && r.fencedWorkers.includes(workerId) && r.workerId !== workerId)
      return `worker ${workerId} lost this job's lease earlier`;
    if (r.workerId && workerId && r.workerId !== workerId)
      return `job is held by worker ${r.workerId}, not ${workerId}`;
    return undefined;
  };

  const onResult = async (packet: PacketOf<'jobResult'>, ctx: HandlerContext) => {
    const res = packet.payload.value;
    const workerId = res.workerId || packet.senderId;
    const reserved = reservations.has(res.jobId);
    const leaseHeader = ctx.header(CapstanHeaders.lease);
    if (!ID_PATTERN.test(res.jobId))
      throw new PacketRejectedError('INVALID_INPUT', `result with an invalid job id (expected ${ID_PATTERN})`);
    let refusal: PacketRejectedError | undefined;
    let alreadyFinished = false;
    const after = await withJob(res.jobId, (cur, now) => {
      refusal = undefined;
      alreadyFinished = isTerminal(cur.state);
      if (alreadyFinished) {
        logger.debug({ job_id: cur.jobId, state: cur.state, worker_id: workerId }, 'result for a finished job ignored');
        return undefined;
      }
      const stale = !ACTIVE.has(cur.state)
        ? `job is ${cur.state}, not running`
        : fenceCheck(cur, workerId, leaseHeader);
      if (stale) {
        refusal = new PacketRejectedError('PERMISSION_DENIED', `result for ${cur.jobId} refused: ${stale}`);
        return REFUSE;
      }
      const outcome = resultOutcome(res.status);
      const base = change(cur, now);
      const patch: Partial<JobRecord> = {
        workerId,
        resultPtr: res.resultPtr,
        artifactPtrs: [...res.artifactPtrs],
        errorCode: res.errorCode,
        errorMessage: res.errorMessage,
        startedAt: cur.startedAt ?? cur.dispatchedAt,
      };
      switch (outcome.kind) {
        case 'invalid':
          refusal = new PacketRejectedError('INVALID_INPUT', outcome.reason);
          return undefined;
        case 'running': {
          if (cur.state !== 'DISPATCHED') return undefined;
          // The deadline and the running timeout keep applying to a job a worker reported RUNNING as a result.
          base.to('RUNNING', 'started', { workerId, startedAt: now });
          return base.set({ nextActionAt: nextActionAt(base.record, limitsOf(base.record)) }).build();
        }
        case 'retryable':
          return retryOrFail(base, now, 'failed_retryable', {
            ...patch,
            errorCode: res.errorCode || capErrorString('WORKER_UNAVAILABLE'),
          }).build();
        case 'terminal': {
          // Workers confirming a cancel often send no message: keep the reason the cancel recorded.
          if (outcome.state === 'CANCELLED' && cur.cancelRequested && !res.errorMessage)
            patch.errorMessage = cur.errorMessage;
          base.to(outcome.state, outcome.fatal ? 'failed_fatal' : `worker_${outcome.state.toLowerCase()}`, patch);
          if (outcome.state === 'SUCCEEDED' && cur.workflowId && !cur.compensationOf) {
            const comp = compensationRequest(cur);
            if (comp)
              base.sagaStep({
                jobId: cur.jobId,
                workflowId: cur.workflowId,
                tenant: cur.tenant,
                stepIndex: cur.stepIndex,
                compensationRequest: toBinary(JobRequestSchema, comp),
              });
          }
          if (outcome.state === 'FAILED') base.dlq(outcome.fatal ? 'fatal' : 'failed');
          if (outcome.state === 'TIMEOUT') base.dlq('timeout');
          if (outcome.state === 'DENIED') base.dlq('worker_denied');
          if (outcome.fatal && cur.workflowId && !cur.compensationOf) base.startRollback();
          return base.build();
        }
      }
    });
    if (!after) refusal = new PacketRejectedError('NOT_FOUND', `result for unknown job ${res.jobId}`);
    if (refusal) {
      if (refusal.code === 'PERMISSION_DENIED') metrics.staleResults.inc({ kind: 'result' });
      throw refusal;
    }
    // A job that had ended before (cancelled, timed out, a duplicate result) gave its slot back when it ended; a
    // RUNNING report keeps it (the worker still runs the job: freeing it here would free it twice).
    if (alreadyFinished || (after && ACTIVE.has(after.state))) return;
    // The worker has a free slot now: don't make waiting jobs wait for its next heartbeat. A finished job's commit
    // gave its reservation back already; without one, the slot is one the worker's heartbeat reported busy.
    if (!unreserve(res.jobId) && !reserved) workers.release(workerId);
    wakeWaiting(1);
  };

  const onProgress = async (packet: PacketOf<'jobProgress'>, ctx: HandlerContext) => {
    const p = packet.payload.value;
    const workerId = packet.senderId;
    const leaseHeader = ctx.header(CapstanHeaders.lease);
    if (!ID_PATTERN.test(p.jobId))
      throw new PacketRejectedError('INVALID_INPUT', `progress with an invalid job id (expected ${ID_PATTERN})`);
    let refused = false;
    const r = await withJob(p.jobId, (cur, now) => {
      refused = !ACTIVE.has(cur.state) || fenceCheck(cur, workerId, leaseHeader) !== undefined;
      if (refused) return REFUSE;
      const fields = { progressPct: Math.max(0, Math.min(100, p.percent)), progressMessage: p.message.slice(0, 1024) };
      if (cur.state === 'DISPATCHED') {
        const b = change(cur, now).to('RUNNING', 'started', {
          ...fields,
          workerId: cur.workerId || workerId,
          startedAt: now,
        });
        return b.set({ nextActionAt: nextActionAt(b.record, limitsOf(b.record)) }).build();
      }
      const next = { ...cur, ...fields };
      remember(next);
      repo.writeProgress(cur.jobId, fields.progressPct, fields.progressMessage);
      return undefined;
    });
    if (!r) throw new PacketRejectedError('NOT_FOUND', `progress for unknown job ${p.jobId}`);
    if (refused) metrics.staleResults.inc({ kind: 'progress' });
    else if (r && ACTIVE.has(r.state) && (p.percent > 0 || p.message))
      publishEvent(r, JobEventKind.PROGRESS, { reason: 'progress' });
  };

  const cancel = (jobId: string, reason: string, requestedBy = '') =>
    withJob(jobId, (cur, now) => {
      if (isTerminal(cur.state)) return undefined;
      if (!ACTIVE.has(cur.state)) {
        return change(cur, now)
          .to('CANCELLED', 'cancelled', { errorMessage: reason || `cancelled by ${requestedBy || 'request'}` })
          .build();
      }
      if (cur.cancelRequested) return undefined;
      cancelToWorker(cur, reason);
      const b = change(cur, now).set({
        cancelRequested: true,
        errorMessage: reason || `cancelled by ${requestedBy || 'request'}`,
      });
      return b.set({ nextActionAt: nextActionAt(b.record, limitsOf(b.record)) }).build();
    });

  const onCancel = async (packet: PacketOf<'jobCancel'>) => {
    if (packet.senderId === id) return; // our own forwarded cancel
    const c = packet.payload.value;
    const r = await cancel(c.jobId, c.reason, c.requestedBy || packet.senderId);
    if (!r) throw new PacketRejectedError('NOT_FOUND', `cancel for unknown job ${c.jobId}`);
  };

  // ---------- sagas ----------
  const rollbackMutex = createKeyedMutex();
  const driveRollback = (tenant: string, workflowId: string) =>
    rollbackMutex
      .run(`${tenant}/${workflowId}`, async () => {
        const steps = await repo.sagaSteps(tenant, workflowId);
        for (const step of steps) {
          const compId = step.compensationJobId;
          if (compId) {
            // From Postgres, not this replica's memory: another replica may have finished the compensation.
            const job = await repo.load(compId);
            const cached = cache.get(compId);
            if (job && cached && cached.version < job.version) remember(job);
            if (!job) {
              await accept(fromBinary(JobRequestSchema, step.compensationRequest), { senderId: id });
              return;
            }
            if (!isTerminal(job.state)) return;
            continue;
          }
          const req = fromBinary(JobRequestSchema, step.compensationRequest);
          await repo.claimCompensation(step.jobId, req.jobId);
          logger.info(
            { workflow_id: workflowId, tenant, job_id: step.jobId, compensation_job_id: req.jobId },
            'saga rollback: dispatching compensation',
          );
          await accept(req, { senderId: id });
          return;
        }
        await repo.finishRollback(tenant, workflowId);
        logger.info({ workflow_id: workflowId, tenant }, 'saga rollback finished');
      })
      .catch((err) =>
        logger.error({ err, workflow_id: workflowId }, 'saga rollback step failed; the reconciler will retry'),
      );

  // ---------- DLQ ----------
  const retryDeadLetter = async (dlqId: string, o: { tenant?: string; requestedBy?: string } = {}) => {
    const row = await repo.getDlq(dlqId);
    if (!row || (o.tenant && row.tenant !== o.tenant))
      throw new PacketRejectedError('NOT_FOUND', `no DLQ entry ${dlqId}`);
    if (row.retriedJobId)
      throw new PacketRejectedError('DUPLICATE', `DLQ entry ${dlqId} was already retried as job ${row.retriedJobId}`);
    const orig = await repo.load(row.jobId);
    if (!orig) throw new PacketRejectedError('NOT_FOUND', `job ${row.jobId} of DLQ entry ${dlqId} no longer exists`);
    const req = retryRequest(orig, dlqId);
    // Create first (deterministic id: idempotent), then mark: a crash in between leaves a retry that can be redone.
    await accept(req, { traceId: orig.traceId, senderId: o.requestedBy ?? id });
    await repo.markDlqRetried(dlqId, req.jobId, o.requestedBy ?? 'unknown');
    return { newJobId: req.jobId };
  };

  /** Runs the due action of a job now unless it is already being handled. */
  const runDue = (r: JobRecord) => {
    if (busy.has(r.jobId)) return;
    busy.add(r.jobId);
    void onDue(r)
      .catch((err) => logger.error({ err, job_id: r.jobId }, 'timer action failed'))
      .finally(() => {
        busy.delete(r.jobId);
        const next = cache.get(r.jobId);
        if (next) runIfDueAgain(next, r.version);
      });
  };

  /**
   * A policy step that leaves a job due at once — a re-check after an approval stopped matching, or a dispatch
   * that must first count its tenant's running jobs — runs now instead of on the next sweep.
   */
  const runIfDueAgain = (r: JobRecord, previousVersion: number) => {
    if (r.version === previousVersion || r.nextActionAt === null || r.nextActionAt > Date.now()) return;
    if (r.state === 'PENDING' || r.waitReason === PolicyWaitReason.tenantConcurrency) runDue(r);
  };

  /** Gives up to `n` of the jobs in `waiting` another attempt now, skipping busy ones and forgetting gone ones. */
  const wakeSome = (waiting: Set<string>, n: number) => {
    const now = Date.now();
    let woken = 0;
    for (const jobId of waiting) {
      if (woken >= n) break;
      const r = cache.get(jobId);
      if (!r) {
        waiting.delete(jobId);
        continue;
      }
      if (busy.has(jobId)) continue;
      const next = { ...r, nextActionAt: now };
      cache.set(jobId, next);
      runDue(next);
      woken++;
    }
  };

  /** Releases up to `n` jobs of a tenant held by `max_concurrent_jobs` (slots were freed). */
  const wakeTenant = (tenant: string, n: number) => {
    const waiting = waitingForTenant.get(tenant);
    if (waiting) wakeSome(waiting, n);
  };

  /** Gives up to `n` jobs that wait for a worker another routing attempt now (a slot was freed). */
  const wakeWaiting = (n: number) => {
    if (waitingForWorker.size > 0) wakeSome(waitingForWorker, n);
  };

  // ---------- timers: sweep (every replica) and reconcile (leader) ----------
  /** Workers missed their heartbeats: the jobs they held, and the unclaimed ones their activity kept, are lost. */
  const onWorkersGone = (gone: readonly WorkerInfo[], now: number) => {
    const ids = new Set<string>();
    for (const w of gone) {
      logger.warn({ worker_id: w.workerId, active_jobs: w.activeJobs }, 'worker missed its heartbeats');
      ids.add(w.workerId);
    }
    const busyGone = gone.filter((w) => w.activeJobs > 0);
    for (const r of cache.values()) {
      if (!ACTIVE.has(r.state)) continue;
      if (r.workerId !== '') {
        if (ids.has(r.workerId)) void leaseLost(r, 'lease_expired');
      } else if (busyGone.length > 0 && holdsDispatchLease(r) && leaseRenewedByPool(r, now)) {
        const route = routing().route(r.topic);
        const pool = busyGone.filter((w) => servesRoute(w, route));
        if (pool.length > 0) void poolLeaseLost(r, pool);
      }
    }
  };

  // Jobs suspected lost on an idle live worker: the row version seen, when, and the result stream's last sequence
  // then (a result published before the sighting may still wait there, e.g. while the consumer's leader moves).
  const lostSuspects = new Map<string, { version: number; since: number; resultSeq: number }>();
  const resultPosition = () =>
    bus.consumerPosition(Streams.result, SCHEDULER_QUEUE_GROUP).catch((err: unknown) => {
      logger.debug({ err }, 'result consumer position unknown; lost-work checks wait');
      return undefined;
    });
  /** See {@link SchedulerTimings.lostWorkGraceMs}: two sightings, the grace apart, of an unchanged row. */
  const findLostWork = async (now: number) => {
    const grace = t.lostWorkGraceMs;
    const idle = workers
      .live(now)
      .filter((w) => w.directDispatch && w.reportedActiveJobs === 0 && w.lastSeenMs > w.firstSeenMs);
    if (idle.length === 0) {
      lostSuspects.clear();
      return;
    }
    const heardAt = new Map(idle.map((w) => [w.workerId, w.lastSeenMs]));
    const held = await repo.findHeldByWorkers([...heardAt.keys()], now - grace, 500);
    const seen = new Set<string>();
    let position: { lastSeq: number; ackFloor: number } | undefined | null = null;
    for (const r of held) {
      // The idle report must postdate the job's last write by the grace: the dispatch had time to arrive.
      // A job being cancelled ends CANCELLED at the cancel grace instead.
      if (r.cancelRequested || (heardAt.get(r.workerId) ?? 0) < r.updatedAt + grace) continue;
      seen.add(r.jobId);
      if (position === null) position = await resultPosition();
      if (!position) return;
      const s = lostSuspects.get(r.jobId);
      if (!s || s.version !== r.version)
        lostSuspects.set(r.jobId, { version: r.version, since: now, resultSeq: position.lastSeq });
      // Lost only once every result published before the first sighting has been handled.
      else if (now - s.since >= grace && position.ackFloor >= s.resultSeq) {
        lostSuspects.delete(r.jobId);
        logger.warn(
          { job_id: r.jobId, worker_id: r.workerId, state: r.state, attempt: r.attempt },
          'live worker reports no jobs but holds this one: dispatch or result lost',
        );
        void leaseLost(r, r.state === 'DISPATCHED' ? 'dispatch_lost' : 'result_lost');
      }
    }
    for (const jobId of lostSuspects.keys()) if (!seen.has(jobId)) lostSuspects.delete(jobId);
  };

  // When the leader last re-published each unclaimed direct dispatch.
  const redelivered = new Map<string, number>();
  /** See {@link SchedulerTimings.redeliverDirectMs}. */
  const redeliverUnclaimedDirect = async (now: number) => {
    const every = t.redeliverDirectMs;
    const unclaimed = await repo.findUnclaimedDirect(now - every, 500);
    const still = new Set<string>();
    for (const r of unclaimed) {
      still.add(r.jobId);
      if (!workers.isLive(r.workerId, now) || now - (redelivered.get(r.jobId) ?? 0) < every) continue;
      redelivered.set(r.jobId, now);
      metrics.redeliveries.inc();
      logger.info(
        { job_id: r.jobId, worker_id: r.workerId, attempt: r.attempt, epoch: r.leaseEpoch },
        'direct dispatch not claimed yet; publishing it again (the worker drops a copy it already holds)',
      );
      publishDispatch(r, true);
    }
    for (const jobId of redelivered.keys()) if (!still.has(jobId)) redelivered.delete(jobId);
  };

  const sweep = () => {
    const now = Date.now();
    const gone = workers.expire(now);
    if (gone.length > 0) onWorkersGone(gone, now);
    metrics.workers.set(workers.size());
    for (const r of cache.values()) {
      if (r.nextActionAt === null || r.nextActionAt > now) continue;
      runDue(r);
    }
  };

  /** Drops cached running jobs whose row another replica changed since (see `cacheCheckMs`). */
  let checkingCache = false;
  const checkCache = async () => {
    if (checkingCache) return;
    checkingCache = true;
    try {
      const before = Date.now() - t.cacheCheckMs;
      const ids: string[] = [];
      for (const r of cache.values()) {
        if (!ACTIVE.has(r.state) || r.updatedAt > before || busy.has(r.jobId) || mutex.held(r.jobId)) continue;
        ids.push(r.jobId);
        if (ids.length >= 5000) break;
      }
      if (ids.length === 0) return;
      const versions = await repo.versions(ids);
      for (const jobId of ids) {
        const cached = cache.get(jobId);
        const stored = versions.get(jobId);
        // Skipped while this replica works on the job: its own commit may be the newer version.
        if (!cached || busy.has(jobId) || mutex.held(jobId)) continue;
        if (stored === undefined || stored > cached.version) forget(jobId);
      }
    } catch (err) {
      logger.debug({ err }, 'could not check cached jobs against the database');
    } finally {
      checkingCache = false;
    }
  };

  const reconcile = async () => {
    leaderEpoch = await repo.acquireLease('reconciler', id, t.leaderLeaseMs);
    if (leaderEpoch === undefined) return;
    const now = Date.now();
    const due = await repo.findDue(now - t.overdueGraceMs, 1000);
    for (const r of due) {
      const cached = cache.get(r.jobId);
      if (!cached || cached.version < r.version) remember(r);
    }
    // Until every live worker has had time to beat, an unknown worker is not a dead one.
    if (now - startedAt > t.workerDiscoveryMs) {
      const held = await repo.findHeldByGoneWorkers(
        workers.live(now).map((w) => w.workerId),
        500,
      );
      for (const r of held) {
        if (r.directDispatch || r.state === 'RUNNING') void leaseLost(r, 'lease_expired');
      }
    }
    await findLostWork(now);
    await redeliverUnclaimedDirect(now);
    for (const rb of await repo.unfinishedRollbacks(100)) void driveRollback(rb.tenant, rb.workflowId);
  };

  // ---------- wiring ----------
  if (bounded) await recountOpenJobs();
  const subs: BusSubscription[] = [];
  await bus.ensureStreams(capstanStreams(opts.streams));
  subs.push(
    await bus.consume({
      stream: Streams.submit,
      durable: SCHEDULER_QUEUE_GROUP,
      name: 'scheduler-submit',
      expect: ['jobRequest'],
      // With an admission bound, hold few submits here: every one held waits outside the bound and adds latency.
      concurrency: submitConcurrency,
      ...(bounded ? { prefetch: submitConcurrency } : {}),
      maxAckPending: 4096,
      // A replica that dies holding packets gives them back this soon (well inside the dispatch timeout).
      ackWaitMs: CONSUMER_ACK_WAIT_MS,
      // Postgres down: hold acknowledged submits and results until it is back, however long that takes.
      isTransient: isDatabaseUnavailable,
      handler: async (packet) => {
        const req = packet.payload.value;
        await admit();
        try {
          await accept(req, { traceId: packet.traceId, senderId: packet.senderId });
        } catch (err) {
          if (err instanceof InvalidJobRequestError && ID_PATTERN.test(req.jobId)) {
            const tenant = req.tenantId || req.meta?.tenantId || DEFAULT_TENANT;
            if (isSubjectToken(tenant)) {
              bus.publishRaw(
                jobEventsSubject(tenant, req.jobId),
                toBinary(
                  JobEventSchema,
                  create(JobEventSchema, {
                    kind: JobEventKind.REJECTED,
                    reason: err.message,
                    job: {
                      jobId: req.jobId,
                      tenant,
                      topic: req.topic,
                      state: 'REJECTED',
                      errorCode: err.wireCode,
                      errorMessage: err.message,
                    },
                  }),
                ),
              );
            }
          }
          throw err;
        } finally {
          admitDone();
        }
      },
    }),
    await bus.consume({
      stream: Streams.result,
      durable: SCHEDULER_QUEUE_GROUP,
      name: 'scheduler-result',
      expect: ['jobResult'],
      concurrency: 256,
      maxAckPending: 4096,
      ackWaitMs: CONSUMER_ACK_WAIT_MS,
      isTransient: isDatabaseUnavailable,
      handler: onResult,
    }),
    bus.subscribe(Subjects.jobProgress, {
      queue: SCHEDULER_QUEUE_GROUP,
      expect: ['jobProgress'],
      concurrency: 64,
      handler: onProgress,
    }),
    bus.subscribe(Subjects.jobCancel, {
      queue: SCHEDULER_QUEUE_GROUP,
      expect: ['jobCancel'],
      concurrency: 16,
      handler: onCancel,
    }),
    bus.subscribe(Subjects.heartbeat, {
      expect: ['heartbeat'],
      concurrency: 1,
      handler: (p) => {
        const now = Date.now();
        const w = workers.observeHeartbeat(p.payload.value, now);
        // A worker with room wakes the jobs waiting for its pool.
        for (const jobId of waitingForWorker) {
          const r = cache.get(jobId);
          if (!r) {
            waitingForWorker.delete(jobId);
            continue;
          }
          const pool = routing().route(r.topic).pool;
          if (
            r.nextActionAt !== null &&
            r.nextActionAt > now &&
            (w.pool === pool || w.pool === r.topic || w.readyTopics.includes(r.topic))
          ) {
            cache.set(r.jobId, { ...r, nextActionAt: now });
          }
        }
      },
    }),
    bus.subscribe(Subjects.handshake, {
      expect: ['handshake'],
      concurrency: 1,
      handler: (p) => workers.observeHandshake(p.payload.value, Date.now()),
    }),
  );
  // Control plane (request/reply, Capstan protobufs).
  const ctlJob = bus.nc.subscribe(CapstanSubjects.ctlJobGet, {
    queue: SCHEDULER_QUEUE_GROUP,
    callback: (_e, m) => {
      void (async () => {
        try {
          const q = fromBinary(GetJobRequestSchema, m.data);
          // Another replica may have moved the job since this one cached it.
          const r = ID_PATTERN.test(q.jobId) ? await freshest(q.jobId) : undefined;
          const found = r !== undefined && (!q.tenant || q.tenant === r.tenant);
          m.respond(
            toBinary(
              GetJobResponseSchema,
              create(GetJobResponseSchema, found ? { found, job: toSnapshot(r) } : { found: false }),
            ),
          );
        } catch (err) {
          logger.warn({ err }, 'bad ctl.job.get request');
          m.respond(toBinary(GetJobResponseSchema, create(GetJobResponseSchema, { found: false })));
        }
      })();
    },
  });
  const ctlDlq = bus.nc.subscribe(CapstanSubjects.ctlDlqRetry, {
    queue: SCHEDULER_QUEUE_GROUP,
    callback: (_e, m) => {
      void (async () => {
        let resp: ReturnType<typeof create<typeof RetryDeadLetterResponseSchema>>;
        try {
          const q = fromBinary(RetryDeadLetterRequestSchema, m.data);
          const { newJobId } = await retryDeadLetter(q.dlqId, {
            ...(q.tenant ? { tenant: q.tenant } : {}),
            requestedBy: q.requestedBy || 'ctl',
          });
          resp = create(RetryDeadLetterResponseSchema, { ok: true, newJobId });
        } catch (err) {
          resp = create(RetryDeadLetterResponseSchema, { ok: false, error: (err as Error).message });
        }
        m.respond(toBinary(RetryDeadLetterResponseSchema, resp));
      })();
    },
  });

  // A human decided an approval (the kernel's admin API asks every time): apply it now instead of at the next poll.
  const ctlApproval = bus.nc.subscribe(CapstanSubjects.ctlJobApproval, {
    queue: SCHEDULER_QUEUE_GROUP,
    callback: (_e, m) => {
      void (async () => {
        let reply = { found: false, jobState: '' };
        try {
          reply = await onApprovalDecided(fromBinary(ApprovalDecidedSchema, m.data));
        } catch (err) {
          logger.warn({ err }, 'could not apply a ctl.job.approval request');
        }
        m.respond(toBinary(ApprovalAppliedSchema, create(ApprovalAppliedSchema, reply)));
      })();
    },
  });

  const sweepTimer = setInterval(sweep, t.sweepIntervalMs);
  const cacheCheckTimer = setInterval(() => void checkCache(), t.cacheCheckMs);
  // The group commit is a prepared statement: its cached plan is only as good as the statistics of the tables it
  // writes. A plan made while `jobs` was nearly empty read the whole table on every batch until autovacuum's first
  // ANALYZE (a minute; never on PGlite). The leader keeps them current as the tables grow.
  const statistics = createStatisticsKeeper({
    db,
    tables: ['jobs', 'job_events'],
    vacuum: opts.vacuumJobTables ?? false,
    active: () => leaderEpoch !== undefined && !stopping,
    logger,
  });
  let counting = false;
  const admissionTimer = bounded
    ? setInterval(() => {
        if (counting || stopping) return;
        counting = true;
        void recountOpenJobs().finally(() => {
          counting = false;
        });
      }, t.admissionPollMs)
    : undefined;
  let reconciling = false;
  const reconcileTimer = setInterval(() => {
    if (reconciling || stopping) return;
    reconciling = true;
    reconcile()
      .catch((err) => logger.error({ err }, 'reconcile failed'))
      .finally(() => {
        reconciling = false;
      });
  }, t.reconcileIntervalMs);
  logger.info({ scheduler_id: id }, 'scheduler started');

  return {
    id,
    workers,
    metrics: registry,
    repository: repo,
    accept,
    getJob: freshest,
    retryDeadLetter,
    cancel,
    isLeader: () => leaderEpoch !== undefined,
    async stop() {
      stopping = true;
      clearInterval(sweepTimer);
      clearInterval(cacheCheckTimer);
      clearInterval(reconcileTimer);
      clearInterval(admissionTimer);
      statistics.stop();
      releaseAdmissionWaiters();
      ctlJob.unsubscribe();
      ctlDlq.unsubscribe();
      ctlApproval.unsubscribe();
      await Promise.all(subs.map((s) => s.stop()));
      await repo.drain();
      if (leaderEpoch !== undefined) await repo.releaseLease('reconciler', id).catch(() => {});
      logger.info({ scheduler_id: id }, 'scheduler stopped');
    },
  };
}
