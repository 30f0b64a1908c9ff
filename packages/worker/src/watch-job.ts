import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { Bus } from '@capstan/bus';
import {
  GetJobRequestSchema,
  GetJobResponseSchema,
  type JobEvent,
  JobEventKind,
  JobEventSchema,
  type JobSnapshot,
  JobSnapshotSchema,
} from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import { isJobState, isTerminal } from '@capstan/jobs';
import type { PointerStore } from '@capstan/pointers';
import { CapstanSubjects, isSubjectToken, jobEventsAnyTenant } from '@capstan/protocol';
import type { Logger } from 'pino';
import { ResultReadError, WaitForResultTimeoutError } from './errors.js';

/** How long the one `capstan.ctl.job.get` catch-up request may take; without an answer the wait relies on events. */
export const CTL_JOB_GET_TIMEOUT_MS = 1000;

/** Final state of a job as seen by a client: a terminal lifecycle state, or REJECTED when the submit was refused. */
export type FinalJobState = 'SUCCEEDED' | 'FAILED' | 'CANCELLED' | 'DENIED' | 'TIMEOUT' | 'REJECTED';

/** What `waitForResult` resolves with. */
export interface JobResultView<TOutput = unknown> {
  /** The job that produced the outcome: the submitted one, or the one a DUPLICATE event pointed to. */
  jobId: string;
  /** Terminal state (REJECTED: the scheduler refused the submit; the snapshot's error fields say why). */
  state: FinalJobState;
  /** The JSON behind `result_ptr` when the state is SUCCEEDED and the job has a result; otherwise undefined. */
  output: TOutput | undefined;
  /** The job's last snapshot (error code and message, attempts, worker, artifact pointers...). */
  snapshot: JobSnapshot;
}

/** Options of `waitForResult`. */
export interface WaitOptions {
  /** Give up after this many ms with a `WaitForResultTimeoutError`. @default 60000 */
  timeoutMs?: number;
  /** Called with every event of the job (transitions, progress, duplicate), in arrival order. */
  onEvent?: (event: JobEvent) => void;
  /** Stops waiting (rejecting with the signal's reason). */
  signal?: AbortSignal;
}

/** Default of {@link WaitOptions.timeoutMs}. */
export const DEFAULT_WAIT_TIMEOUT_MS = 60_000;

/** A wait that is subscribed (`ready`) before its outcome (`result`) is awaited, so a submit can go in between. */
export interface JobWatch<TOutput> {
  /**
   * Resolves once the event subscription is registered at the server; rejects when it cannot be, or with the stop
   * reason when the watch was stopped first (aborted, timed out), so a caller does not submit a job nobody awaits.
   */
  ready: Promise<void>;
  /** The outcome. */
  result: Promise<JobResultView<TOutput>>;
  /** Stops watching; `result` rejects with `reason`. */
  stop(reason: unknown): void;
}

interface WatchDeps {
  bus: Bus;
  pointers: PointerStore;
  logger: Logger;
}

/**
 * Watches a job until it is terminal: subscribes to its events (any tenant), follows DUPLICATE events to the job
 * they name, and — because events published before the subscription are gone — asks the scheduler once for the
 * job's snapshot over request/reply after each subscription is in place.
 */
export function watchJob<TOutput>(
  deps: WatchDeps,
  firstJobId: string,
  timeoutMs: number,
  options: WaitOptions,
): JobWatch<TOutput> {
  const { bus, pointers, logger } = deps;
  let jobId = firstJobId;
  let lastState: string | undefined;
  let sub: ReturnType<Bus['nc']['subscribe']> | undefined;
  let done = false;
  let stopped: { reason: unknown } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let resolveResult!: (view: JobResultView<TOutput>) => void;
  let rejectResult!: (reason: unknown) => void;
  const result = new Promise<JobResultView<TOutput>>((resolve, reject) => {
    resolveResult = resolve;
    rejectResult = reject;
  });
  // Nobody may await `result` if the caller stops early; avoid an unhandled rejection.
  result.catch(() => {});

  const cleanup = () => {
    done = true;
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    sub?.unsubscribe();
    sub = undefined;
  };
  const stop = (reason: unknown) => {
    if (done) return;
    stopped = { reason };
    cleanup();
    rejectResult(reason);
  };
  const onAbort = () => stop(options.signal?.reason);

  const complete = async (state: FinalJobState, snapshot: JobSnapshot) => {
    if (done) return;
    cleanup();
    if (state !== 'SUCCEEDED' || !snapshot.resultPtr) {
      resolveResult({ jobId, state, output: undefined, snapshot });
      return;
    }
    try {
      const output = await pointers.getJson<TOutput>(snapshot.resultPtr);
      resolveResult({ jobId, state, output, snapshot });
    } catch (err) {
      rejectResult(
        new ResultReadError(
          `job ${jobId} succeeded but its output at ${snapshot.resultPtr} cannot be read: ${(err as Error).message}`,
          jobId,
          snapshot.resultPtr,
          {
            cause: err,
          },
        ),
      );
    }
  };

  const consider = (snapshot: JobSnapshot | undefined) => {
    // The subject already names the job; a snapshot that names another one is stale (from before a DUPLICATE).
    if (!snapshot || (snapshot.jobId !== '' && snapshot.jobId !== jobId)) return;
    lastState = snapshot.state;
    if (isJobState(snapshot.state) && isTerminal(snapshot.state))
      void complete(snapshot.state as FinalJobState, snapshot);
  };

  const onEvent = (event: JobEvent, forJob: string) => {
    if (done || forJob !== jobId) return;
    try {
      options.onEvent?.(event);
    } catch (err) {
      logger.warn({ err, job_id: jobId }, 'onEvent callback threw; ignored');
    }
    if (event.kind === JobEventKind.DUPLICATE) {
      if (event.duplicateOf && event.duplicateOf !== jobId && isSubjectToken(event.duplicateOf)) {
        logger.debug(
          { job_id: jobId, duplicate_of: event.duplicateOf },
          'submit was a duplicate; following the original job',
        );
        void follow(event.duplicateOf);
      }
      return;
    }
    if (event.kind === JobEventKind.REJECTED) {
      void complete('REJECTED', event.job ?? create(JobSnapshotSchema, { jobId, state: 'REJECTED' }));
      return;
    }
    consider(event.job);
  };

  const askSnapshot = async (forJob: string) => {
    try {
      const reply = await bus.nc.request(
        CapstanSubjects.ctlJobGet,
        toBinary(GetJobRequestSchema, create(GetJobRequestSchema, { jobId: forJob })),
        {
          timeout: CTL_JOB_GET_TIMEOUT_MS,
        },
      );
      const response = fromBinary(GetJobResponseSchema, reply.data);
      if (response.found && forJob === jobId) consider(response.job);
    } catch (err) {
      // No scheduler answering (or too slowly): the events will tell.
      logger.debug({ err, job_id: forJob }, 'ctl.job.get got no answer; waiting for events');
    }
  };

  const subscribe = async (forJob: string) => {
    sub?.unsubscribe();
    sub = bus.nc.subscribe(jobEventsAnyTenant(forJob), {
      callback: (err, msg) => {
        if (err) return;
        let event: JobEvent;
        try {
          event = fromBinary(JobEventSchema, msg.data);
        } catch (decodeErr) {
          logger.warn({ err: decodeErr, subject: msg.subject }, 'undecodable job event ignored');
          return;
        }
        onEvent(event, forJob);
      },
    });
    await bus.nc.flush();
  };

  const follow = async (nextJobId: string) => {
    jobId = nextJobId;
    lastState = undefined;
    try {
      await subscribe(nextJobId);
    } catch (err) {
      stop(err);
      return;
    }
    if (!done) await askSnapshot(nextJobId);
  };

  if (options.signal?.aborted) {
    stop(options.signal.reason);
    const ready = Promise.reject(options.signal.reason);
    ready.catch(() => {});
    return { ready, result, stop };
  }
  options.signal?.addEventListener('abort', onAbort, { once: true });
  timer = setTimeout(() => {
    stop(
      new WaitForResultTimeoutError(
        `job ${jobId} was not finished after ${timeoutMs} ms (last state: ${lastState ?? 'unknown'})`,
        jobId,
        lastState,
      ),
    );
  }, timeoutMs);
  const ready = subscribe(firstJobId).then(
    () => {
      if (stopped) throw stopped.reason;
      if (!done) void askSnapshot(firstJobId);
    },
    (err: unknown) => {
      stop(err);
      throw err;
    },
  );
  // Callers that only await `result` (which carries the same error) must not see an unhandled rejection here.
  ready.catch(() => {});
  return { ready, result, stop };
}
