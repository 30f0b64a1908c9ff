import { randomUUID } from 'node:crypto';
import { type Bus, type BusSubscription, createBus, type HandlerContext } from '@capstan/bus';
import { type JobRequest, JobStatus } from '@capstan/gen/cordum/agent/v1/job_pb';
import { withJob } from '@capstan/log';
import { artifactPointer, resultPointer } from '@capstan/pointers';
import {
  CapstanHeaders,
  capErrorString,
  jobSubject,
  type PacketOf,
  parseLease,
  queueGroupForJobSubject,
  Subjects,
  workerJobsSubject,
} from '@capstan/protocol';
import type { Logger } from 'pino';
import {
  type JobAbortReason,
  JobCancelledError,
  JobDeadlineExceededError,
  WorkerShutdownError,
} from './abort-reasons.js';
import { createDeliveryDedupe } from './delivery-dedupe.js';
import { createEarlyCancels } from './early-cancels.js';
import { WorkerOptionsError, WorkerStartError } from './errors.js';
import type { JobContext } from './job-context.js';
import { jobDeadline } from './job-deadline.js';
import { JobFailure } from './job-failure.js';
import {
  handBack,
  type JobOutcome,
  outcomeFromAbort,
  outcomeFromHandlerError,
  outcomeFromInputError,
  outcomeFromResultError,
} from './job-outcome.js';
import { createJobSlots } from './job-slots.js';
import { createResourceLoadSampler } from './resource-load.js';
import { createResultPublisher } from './result-publisher.js';
import { type ResolvedWorkerOptions, resolveWorkerOptions, type WorkerOptions } from './worker-options.js';
import { handshakePacket, heartbeatPacket, progressPacket, resultPacket } from './worker-packets.js';

/** Counters of a worker since it started. */
export interface WorkerStats {
  /** Jobs running (holding a slot). */
  running: number;
  /** Jobs waiting for a slot. */
  queued: number;
  /** Job requests received (including duplicates and hand-backs). */
  received: number;
  /** Deliveries dropped because the same (job_id, epoch) was already taken (without a lease: is still held). */
  duplicates: number;
  succeeded: number;
  failedRetryable: number;
  failedFatal: number;
  /** Jobs reported CANCELLED, including deliveries of jobs cancelled before they arrived (never run). */
  cancelled: number;
  timedOut: number;
  /** Jobs refused over capacity (FAILED_RETRYABLE "201"). */
  overCapacity: number;
  /** Jobs handed back because the worker was shutting down (FAILED_RETRYABLE "402"). */
  handedBack: number;
  /** Direct dispatches for a topic this worker does not serve (FAILED_RETRYABLE "206"). */
  notServed: number;
}

/** Options of {@link Worker.shutdown}. */
export interface ShutdownOptions {
  /** How long running jobs may still finish, in ms. @default the worker's `shutdownTimeoutMs` (30000) */
  timeoutMs?: number;
}

/** A running worker. */
export interface Worker {
  /** The worker id (heartbeat `worker_id`, handshake `component_id`, packet `sender_id`). */
  readonly id: string;
  /** The job topics it serves. */
  readonly topics: readonly string[];
  /** Jobs it holds: running plus queued. */
  active(): number;
  /** Counters since start. */
  stats(): WorkerStats;
  /**
   * Drains: takes no new jobs (late arrivals are handed back with "402"), hands back queued ones, lets running jobs
   * finish for up to `timeoutMs`, then aborts the rest and hands them back ("402"), sends a last heartbeat with
   * `active_jobs` 0 and closes the bus if the worker opened it. Until then its heartbeats report it full and its
   * handshake drops direct dispatch and its topics, so schedulers route elsewhere. Results still unacknowledged at
   * the end are given up. Idempotent: later calls return the same promise.
   */
  shutdown(options?: ShutdownOptions): Promise<void>;
  /**
   * Resolves once the worker has stopped, however the shutdown was started (a call or a signal); rejects when the
   * shutdown failed. A standalone worker awaits it to release what it owns afterwards (e.g. the pointer store).
   */
  closed(): Promise<void>;
}

/** One delivery of a job this worker took. */
interface Execution {
  readonly request: JobRequest;
  readonly traceId: string;
  /** The lease header to echo on every packet for this job; undefined when the dispatch carried none. */
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly attempt: number;
  readonly epoch: number;
  /** How the job arrived: on the topic's queue group or on this worker's direct subject. */
  readonly via: 'topic' | 'direct';
  readonly controller: AbortController;
  readonly artifactPtrs: string[];
  /** `finished` once the result is published, even if the handler (ignoring its signal) is still running. */
  state: 'queued' | 'running' | 'finished';
  startedAt: number | undefined;
  lastPercent: number;
  /** The handler reported progress itself (then the scheduler already knows the job runs). */
  progressSent: boolean;
  /** The handler has been called and has not settled yet. */
  inHandler: boolean;
  deadlineTimer: NodeJS.Timeout | undefined;
}

/** A directly dispatched job whose handler still runs after this long is reported RUNNING (see `callHandler`). */
const STARTED_NOTICE_DELAY_MS = 50;

/** Longest delay `setTimeout` honours (about 24.8 days); longer deadlines are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const ARTIFACT_NAME = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Starts a CAP worker: subscribes to its topics (queue group = subject) and, with `directDispatch`, to
 * `worker.<id>.jobs`; hears cancels on `sys.job.cancel`; announces itself with a handshake (again after every
 * reconnect) and heartbeats; runs `handler` for each job with bounded concurrency and publishes its result.
 *
 * @throws {WorkerOptionsError} when an option is invalid.
 */
export async function createWorker<TInput = unknown>(options: WorkerOptions<TInput>): Promise<Worker> {
  const o = resolveWorkerOptions(options);
  const logger = o.logger.child({ worker_id: o.workerId });
  const bus =
    o.connection.kind === 'bus'
      ? o.connection.bus
      : await createBus({ servers: o.connection.servers, senderId: o.workerId, logger });
  try {
    return await startWorker(o, bus, logger);
  } catch (err) {
    if (o.connection.kind === 'servers') await bus.close().catch(() => {});
    throw err;
  }
}

async function startWorker<TInput>(o: ResolvedWorkerOptions<TInput>, bus: Bus, logger: Logger): Promise<Worker> {
  const id = o.workerId;
  // As many jobs may wait as may run: enough to absorb a burst between two heartbeats, small enough that a
  // job never waits long behind a full worker while another one is idle.
  const slots = createJobSlots<Execution>(o.concurrency, o.concurrency);
  const dedupe = createDeliveryDedupe(o.dedupeCacheSize);
  // Cancels of jobs this worker did not hold: the dispatch may still be on its way (see onCancel).
  const earlyCancels = createEarlyCancels();
  const sampler = createResourceLoadSampler();
  const live = new Set<Execution>();
  const counters = {
    received: 0,
    duplicates: 0,
    succeeded: 0,
    failedRetryable: 0,
    failedFatal: 0,
    cancelled: 0,
    timedOut: 0,
    overCapacity: 0,
    handedBack: 0,
    notServed: 0,
  };
  let checkpoint: { owner: Execution; memo: string; percent: number } | undefined;
  let draining = false;

  const results = createResultPublisher(bus, logger);
  // One result per (worker, job, lease epoch): the stream drops a retried copy. Without a lease (a scheduler that
  // sends none) every result is unique.
  const resultMsgId = (jobId: string, headers: Readonly<Record<string, string>> | undefined) => {
    const lease = parseLease(headers?.[CapstanHeaders.lease]);
    return `${id}:${jobId}:${lease && lease.epoch > 0 ? `${lease.attempt}.${lease.epoch}` : randomUUID()}`;
  };
  const send = (
    subject: string,
    packet: PacketOf<'jobProgress' | 'heartbeat' | 'handshake'>,
    headers?: Readonly<Record<string, string>>,
  ) => {
    try {
      bus.publish(subject, packet, headers ? { headers } : undefined);
    } catch (err) {
      // Connection closed or reconnecting buffer full: progress and heartbeats are repeated anyway.
      logger.error({ err, subject }, 'could not publish');
    }
  };

  const count = (outcome: Pick<JobOutcome, 'status' | 'errorCode'>) => {
    switch (outcome.status) {
      case JobStatus.SUCCEEDED:
        counters.succeeded++;
        break;
      case JobStatus.FAILED_FATAL:
        counters.failedFatal++;
        break;
      case JobStatus.CANCELLED:
        counters.cancelled++;
        break;
      case JobStatus.TIMEOUT:
        counters.timedOut++;
        break;
      default:
        if (outcome.errorCode === capErrorString('RESOURCE_EXHAUSTED')) counters.overCapacity++;
        else if (outcome.errorCode === capErrorString('CONNECTION_LOST')) counters.handedBack++;
        else if (outcome.errorCode === capErrorString('WORKER_UNAVAILABLE')) counters.notServed++;
        else counters.failedRetryable++;
    }
  };

  /**
   * Publishes the result of a job the worker did not take (duplicate-free hand-backs, instant timeouts, jobs
   * cancelled before they arrived).
   */
  const replyUntaken = (
    request: JobRequest,
    traceId: string,
    headers: Readonly<Record<string, string>> | undefined,
    outcome: JobOutcome,
    level: 'info' | 'debug' = 'info',
    message = outcome.errorMessage,
  ) => {
    count(outcome);
    logger[level](
      { job_id: request.jobId, trace_id: traceId, status: JobStatus[outcome.status], error_code: outcome.errorCode },
      message,
    );
    results.publish(
      resultPacket({ jobId: request.jobId, workerId: id, executionMs: 0, ...outcome }, traceId),
      headers,
      resultMsgId(request.jobId, headers),
    );
  };

  /** Publishes the job's one result; false when it was already published. */
  const finish = (exec: Execution, outcome: JobOutcome & { resultPtr?: string }): boolean => {
    if (exec.state === 'finished') return false;
    exec.state = 'finished';
    clearTimeout(exec.deadlineTimer);
    live.delete(exec);
    if (checkpoint?.owner === exec) checkpoint = undefined;
    const executionMs = exec.startedAt === undefined ? 0 : Date.now() - exec.startedAt;
    count(outcome);
    results.publish(
      resultPacket(
        { jobId: exec.request.jobId, workerId: id, executionMs, artifactPtrs: exec.artifactPtrs, ...outcome },
        exec.traceId,
      ),
      exec.headers,
      resultMsgId(exec.request.jobId, exec.headers),
    );
    logger.info(
      {
        job_id: exec.request.jobId,
        trace_id: exec.traceId,
        status: JobStatus[outcome.status],
        error_code: outcome.errorCode || undefined,
        execution_ms: executionMs,
      },
      outcome.status === JobStatus.SUCCEEDED ? 'job succeeded' : `job ended: ${outcome.errorMessage}`,
    );
    return true;
  };

  /** Reports the abort outcome at once, then aborts the signal; the slot stays taken until the handler returns. */
  const abort = (exec: Execution, reason: JobAbortReason) => {
    if (exec.state === 'finished') return;
    if (exec.state === 'queued') slots.remove(exec);
    finish(exec, outcomeFromAbort(reason));
    exec.controller.abort(reason);
  };

  const armDeadline = (exec: Execution, deadline: number) => {
    const remaining = deadline - Date.now();
    exec.deadlineTimer = setTimeout(
      () =>
        remaining > MAX_TIMER_MS ? armDeadline(exec, deadline) : abort(exec, new JobDeadlineExceededError(deadline)),
      Math.min(Math.max(0, remaining), MAX_TIMER_MS),
    );
    exec.deadlineTimer.unref();
  };

  const checkPercent = (percent: number, what: string): number => {
    if (typeof percent !== 'number' || !Number.isFinite(percent) || percent < 0 || percent > 100) {
      throw new RangeError(`${what}: got ${String(percent)}; expected a number from 0 to 100`);
    }
    return Math.round(percent);
  };

  const createContext = (exec: Execution, jobLogger: Logger): JobContext => {
    const { request } = exec;
    return {
      jobId: request.jobId,
      attempt: exec.attempt,
      epoch: exec.epoch,
      traceId: exec.traceId,
      idempotencyKey: request.meta?.idempotencyKey || request.jobId,
      request,
      signal: exec.controller.signal,
      logger: jobLogger,
      progress(percent, message = '') {
        const pct = checkPercent(percent, 'ctx.progress percent');
        exec.lastPercent = pct;
        if (checkpoint?.owner === exec) checkpoint.percent = pct;
        // After the result is out, progress would contradict it.
        if (exec.state !== 'running') return;
        exec.progressSent = true;
        send(Subjects.jobProgress, progressPacket(id, exec.traceId, request.jobId, pct, message), exec.headers);
      },
      checkpoint(memo, percent) {
        const pct = percent === undefined ? exec.lastPercent : checkPercent(percent, 'ctx.checkpoint percent');
        exec.lastPercent = pct;
        const text = typeof memo === 'string' ? memo : JSON.stringify(memo);
        if (exec.state !== 'running') return;
        checkpoint = { owner: exec, memo: text, percent: pct };
      },
      async writeArtifact(name, data, artifactOptions) {
        if (typeof name !== 'string' || !ARTIFACT_NAME.test(name)) {
          throw new RangeError(
            `ctx.writeArtifact name: got ${JSON.stringify(name)}; expected 1–128 letters, digits, ".", "_" or "-"`,
          );
        }
        const info = await o.pointers.put(
          artifactPointer(`${request.jobId}:${name}`),
          data,
          artifactOptions?.contentType ? { contentType: artifactOptions.contentType } : undefined,
        );
        if (!exec.artifactPtrs.includes(info.uri)) exec.artifactPtrs.push(info.uri);
        return info.uri;
      },
    };
  };

  /**
   * Runs the handler. A topic delivery was claimed on arrival (see onJobRequest); a direct dispatch already names
   * this worker, so its RUNNING notice is sent only if the handler itself is still running after
   * STARTED_NOTICE_DELAY_MS. Quick handlers skip a whole state write, progress packet and job event — also when
   * reading the input or storing the result is slow under load, which says nothing about the job running.
   */
  const callHandler = async (exec: Execution, input: TInput, jobLogger: Logger) => {
    exec.inHandler = true;
    const notice =
      exec.via === 'direct'
        ? setTimeout(() => {
            if (exec.state === 'running' && exec.inHandler && !exec.progressSent)
              send(
                Subjects.jobProgress,
                progressPacket(id, exec.traceId, exec.request.jobId, 0, 'started'),
                exec.headers,
              );
          }, STARTED_NOTICE_DELAY_MS).unref()
        : undefined;
    try {
      return await o.handler(input, createContext(exec, jobLogger));
    } finally {
      exec.inHandler = false;
      clearTimeout(notice);
    }
  };

  const run = async (exec: Execution) => {
    const { request } = exec;
    const tenant = request.tenantId || request.meta?.tenantId;
    const jobLogger = withJob(logger, { traceId: exec.traceId, jobId: request.jobId, ...(tenant ? { tenant } : {}) });
    let input: unknown;
    if (request.contextPtr) {
      try {
        input = await o.pointers.getJson(request.contextPtr);
      } catch (err) {
        jobLogger.warn({ err, context_ptr: request.contextPtr }, 'cannot read job input');
        finish(exec, outcomeFromInputError(err, request.contextPtr));
        return;
      }
    }
    // Cancelled or timed out while the input was loading.
    if (exec.state !== 'running') return;
    let value: unknown;
    try {
      value = await callHandler(exec, input as TInput, jobLogger);
    } catch (err) {
      if (exec.state !== 'running') {
        jobLogger.debug({ err }, 'handler ended after its outcome was reported');
        return;
      }
      jobLogger.warn(
        { err, ...(err instanceof JobFailure && err.details !== undefined ? { details: err.details } : {}) },
        'handler failed',
      );
      finish(exec, outcomeFromHandlerError(err));
      return;
    }
    if (exec.state !== 'running') {
      jobLogger.debug('handler returned after its outcome was reported; value dropped');
      return;
    }
    const resultPtr = resultPointer(request.jobId);
    try {
      // JSON has no undefined: a handler that returns nothing produces `null`.
      await o.pointers.putJson(resultPtr, value === undefined ? null : value);
    } catch (err) {
      jobLogger.warn({ err, result_ptr: resultPtr }, 'cannot store job result');
      finish(exec, outcomeFromResultError(err, resultPtr));
      return;
    }
    finish(exec, { status: JobStatus.SUCCEEDED, errorCode: '', errorMessage: '', resultPtr });
  };

  const start = (exec: Execution) => {
    exec.state = 'running';
    exec.startedAt = Date.now();
    void run(exec)
      .catch((err: unknown) => {
        logger.error({ err, job_id: exec.request.jobId }, 'job runner failed');
        finish(exec, outcomeFromHandlerError(err));
      })
      .finally(() => {
        const next = slots.release();
        if (next) start(next);
      });
  };

  /**
   * Without a lease (a dispatcher that sends none) a retry arrives with the same (job_id, 0) as the first delivery, so
   * only a copy of a delivery still held here is a duplicate: the dedupe cache would drop every retry once it ran.
   */
  const holdsUnleased = (jobId: string) => {
    for (const exec of live) if (exec.epoch === 0 && exec.request.jobId === jobId) return true;
    return false;
  };

  const onJobRequest = (request: JobRequest, traceId: string, hctx: HandlerContext, via: 'topic' | 'direct') => {
    counters.received++;
    const leaseValue = hctx.header(CapstanHeaders.lease);
    const lease = parseLease(leaseValue);
    const headers = leaseValue ? { [CapstanHeaders.lease]: leaseValue } : undefined;
    const epoch = lease?.epoch ?? 0;
    const receivedAt = Date.now();
    // Dedupe first: a duplicate of a job this worker runs must never be answered, not even with a hand-back.
    if (epoch === 0 ? holdsUnleased(request.jobId) : !dedupe.take(request.jobId, epoch)) {
      counters.duplicates++;
      logger.debug({ job_id: request.jobId, epoch }, 'duplicate delivery dropped');
      return;
    }
    // Cancelled before it arrived (the cancel raced the dispatch): never run, never takes a slot. The pair stays in
    // the dedupe cache, so a copy of this delivery is dropped as a duplicate rather than answered twice.
    const early = earlyCancels.get(request.jobId);
    if (early) {
      const outcome = outcomeFromAbort(new JobCancelledError(early.reason, early.requestedBy));
      replyUntaken(
        request,
        traceId,
        headers,
        outcome,
        'debug',
        'delivery of a job cancelled before it arrived: not run',
      );
      return;
    }
    const untaken = (outcome: JobOutcome) => {
      dedupe.forget(request.jobId, epoch);
      replyUntaken(request, traceId, headers, outcome);
    };
    if (draining) return untaken(handBack('CONNECTION_LOST', `worker ${id} is shutting down; job handed back`));
    if (via === 'direct' && !o.topics.includes(request.topic)) {
      return untaken(
        handBack(
          'WORKER_UNAVAILABLE',
          `worker ${id} does not serve topic ${JSON.stringify(request.topic)} (serves ${o.topics.join(', ')})`,
        ),
      );
    }
    const deadline = jobDeadline(request.budget?.deadlineMs ?? 0n, receivedAt);
    if (deadline !== undefined && deadline <= receivedAt) {
      replyUntaken(request, traceId, headers, outcomeFromAbort(new JobDeadlineExceededError(deadline)));
      return;
    }
    const exec: Execution = {
      request,
      traceId,
      headers,
      attempt: lease?.attempt ?? 1,
      epoch,
      via,
      controller: new AbortController(),
      artifactPtrs: [],
      state: 'queued',
      startedAt: undefined,
      lastPercent: 0,
      progressSent: false,
      inHandler: false,
      deadlineTimer: undefined,
    };
    const admission = slots.offer(exec);
    if (admission === 'full') {
      return untaken(
        handBack(
          'RESOURCE_EXHAUSTED',
          `worker ${id} is at capacity (${o.concurrency} running, ${o.concurrency} queued); job handed back`,
        ),
      );
    }
    live.add(exec);
    // Claim a topic delivery at once, even if it waits in the local queue: the first progress tells the scheduler
    // which member of the queue group holds it, so an unclaimed dispatch really is one nobody got.
    if (via === 'topic') send(Subjects.jobProgress, progressPacket(id, traceId, request.jobId, 0, 'accepted'), headers);
    if (deadline !== undefined) armDeadline(exec, deadline);
    if (admission === 'run') start(exec);
  };

  /**
   * Aborts the job if this worker holds it. Otherwise the cancel is remembered: a cancel broadcast on
   * `sys.job.cancel` can overtake the dispatch it targets, and a delivery of a job cancelled earlier is answered
   * CANCELLED without running (see onJobRequest). Every other worker remembers it too, at the cost of one entry.
   */
  const onCancel = (jobId: string, reason: string, requestedBy: string) => {
    let held = false;
    for (const exec of [...live]) {
      if (exec.request.jobId !== jobId) continue;
      held = true;
      abort(exec, new JobCancelledError(reason || 'cancel requested', requestedBy));
    }
    if (!held) {
      earlyCancels.add(jobId, reason || 'cancel requested', requestedBy);
      logger.debug({ job_id: jobId, requested_by: requestedBy }, 'cancel of a job not held here: remembered');
    }
  };

  const publishHeartbeat = (final = false) => {
    const load = sampler.sample();
    // A job whose result is not yet stored still counts: the scheduler must not think it lost.
    const held = slots.running + slots.queued + results.pending();
    send(
      Subjects.heartbeat,
      heartbeatPacket({
        workerId: id,
        pool: o.pool,
        // Draining, it looks full so schedulers route elsewhere instead of dispatching jobs it can only hand back. Full
        // plus what it holds: the scheduler lowers its count by one per result it gets, and must not see room then.
        activeJobs: final ? 0 : draining ? o.concurrency + held : held,
        maxParallelJobs: o.concurrency,
        cpuLoad: load.cpuLoad,
        memoryLoad: load.memoryLoad,
        capabilities: o.topics,
        labels: o.labels,
        progressPct: final ? 0 : (checkpoint?.percent ?? 0),
        lastMemo: final ? '' : (checkpoint?.memo ?? ''),
        agentName: o.agentName,
      }),
    );
  };
  // Draining, it no longer invites direct dispatches nor claims its topics: its topic subscriptions are gone.
  const publishHandshake = () =>
    send(
      Subjects.handshake,
      draining ? handshakePacket(id, [], false) : handshakePacket(id, o.topics, o.directDispatch),
    );

  const subscriptions: BusSubscription[] = [];
  const topicSubs = o.topics.map((topic) => {
    const subject = jobSubject(topic);
    return bus.subscribe(subject, {
      queue: queueGroupForJobSubject(subject),
      expect: ['jobRequest'],
      name: `worker ${id} ${subject}`,
      handler: (packet, hctx) => onJobRequest(packet.payload.value, packet.traceId, hctx, 'topic'),
    });
  });
  subscriptions.push(...topicSubs);
  // Cancels go to every worker (no queue group): only the one holding the job acts on it. Kept open while draining.
  const cancelSub = bus.subscribe(Subjects.jobCancel, {
    expect: ['jobCancel'],
    name: `worker ${id} cancels`,
    handler: (packet) =>
      onCancel(packet.payload.value.jobId, packet.payload.value.reason, packet.payload.value.requestedBy),
  });
  subscriptions.push(cancelSub);
  // Kept open while draining too, so direct dispatches that race the shutdown are handed back instead of lost.
  const directSub = o.directDispatch
    ? bus.subscribe(workerJobsSubject(id), {
        expect: ['jobRequest', 'jobCancel'],
        name: `worker ${id} direct`,
        handler: (packet, hctx) => {
          const payload = packet.payload;
          if (payload.case === 'jobRequest') onJobRequest(payload.value, packet.traceId, hctx, 'direct');
          else onCancel(payload.value.jobId, payload.value.reason, payload.value.requestedBy);
        },
      })
    : undefined;
  if (directSub) subscriptions.push(directSub);

  try {
    // The subscriptions must be live at the server before the handshake invites direct dispatches.
    await bus.nc.flush();
  } catch (err) {
    await Promise.all(subscriptions.map((s) => s.stop().catch(() => {})));
    throw new WorkerStartError(`worker ${id} could not subscribe: ${(err as Error).message}`, { cause: err });
  }

  publishHandshake();
  publishHeartbeat();
  let announceAgain = false;
  let announcedAt = Date.now();
  const heartbeatTimer = setInterval(() => {
    // A scheduler replica started after us never saw our handshake (CAP has no way to ask for one): repeat it now
    // and then, so it learns our topics and direct dispatch within handshakeRepeatMs.
    if (announceAgain || Date.now() - announcedAt >= o.handshakeRepeatMs) {
      announceAgain = false;
      announcedAt = Date.now();
      publishHandshake();
    }
    publishHeartbeat();
  }, o.heartbeatIntervalMs);
  heartbeatTimer.unref();
  const offReconnect = bus.onReconnect(() => {
    // The scheduler may have restarted with the server: tell it again who we are and what we hold. When a whole
    // server restarts, its clients reconnect in random order, so a scheduler that comes back a moment after us
    // would miss this handshake: it is repeated once with the next heartbeat.
    publishHandshake();
    publishHeartbeat();
    announceAgain = true;
  });

  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'signal received: draining (send it again to exit at once)');
    void worker.shutdown().catch((err: unknown) => logger.error({ err }, 'shutdown failed'));
  };
  if (o.handleSignals) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }

  const drain = async (timeoutMs: number) => {
    draining = true;
    // Removing the handlers gives a second Ctrl-C its default effect: exit now.
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    // Tell schedulers now, not at the next beat: every job routed here meanwhile would be handed back ("402").
    // The timer's repeats (and those after a reconnect) say the same until the last heartbeat.
    publishHandshake();
    publishHeartbeat();
    logger.info({ running: slots.running, queued: slots.queued, timeout_ms: timeoutMs }, 'worker draining');
    await Promise.all(topicSubs.map((s) => s.stop()));
    for (const exec of slots.drainQueue()) {
      finish(
        exec,
        handBack('CONNECTION_LOST', `worker ${id} is shutting down before the job started; job handed back`),
      );
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      slots.idle().then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      for (const exec of [...live]) abort(exec, new WorkerShutdownError());
    }
    // Results still waiting for a JetStream ack (nats-server restarting) get the rest of the drain time.
    await results.settle(Math.max(1000, timeoutMs));
    clearInterval(heartbeatTimer);
    offReconnect();
    publishHeartbeat(true);
    await Promise.all([directSub?.stop(), cancelSub.stop()]);
    // Retries on a closing bus would keep the process alive for up to giveUpAfterMs after the worker stopped.
    results.stop();
    await bus.nc.flush().catch(() => {});
    if (o.connection.kind === 'servers') await bus.close();
    logger.info('worker stopped');
  };

  let shutdownPromise: Promise<void> | undefined;
  let resolveClosed!: () => void;
  let rejectClosed!: (err: unknown) => void;
  const closed = new Promise<void>((resolve, reject) => {
    resolveClosed = resolve;
    rejectClosed = reject;
  });
  // Only callers of closed() should see a failed shutdown; shutdown() callers get it through their own promise.
  closed.catch(() => {});
  const worker: Worker = {
    id,
    topics: o.topics,
    active: () => slots.running + slots.queued,
    stats: () => ({ running: slots.running, queued: slots.queued, ...counters }),
    shutdown(shutdownOptions = {}) {
      const timeoutMs = shutdownOptions.timeoutMs ?? o.shutdownTimeoutMs;
      if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 0) {
        return Promise.reject(
          new WorkerOptionsError(
            `invalid shutdown option timeoutMs: got ${String(timeoutMs)}; expected an integer number of ms >= 0`,
          ),
        );
      }
      shutdownPromise ??= drain(timeoutMs).then(resolveClosed, (err: unknown) => {
        rejectClosed(err);
        throw err;
      });
      return shutdownPromise;
    },
    closed: () => closed,
  };
  logger.info(
    { topics: o.topics, pool: o.pool, concurrency: o.concurrency, direct_dispatch: o.directDispatch },
    'worker ready',
  );
  return worker;
}
