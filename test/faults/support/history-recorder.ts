import { fromBinary } from '@bufbuild/protobuf';
import { decodeDeadLetter } from '@capstan/bus';
import { JobEventKind, JobEventSchema } from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import { JobStatus } from '@capstan/gen/cordum/agent/v1/job_pb';
import {
  CapstanHeaders,
  deadLetterSubject,
  decodePacket,
  jobEventsWildcard,
  parseLease,
  Subjects,
} from '@capstan/protocol';
import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import type { ObservedEvent, ObservedHistory, SubmitRecord } from './history.js';

/** Records what happens on the bus during a fault run (and the submits the test makes). */
export interface HistoryRecorder {
  /** The history so far (live arrays: they keep growing until `stop()`). */
  readonly history: Omit<ObservedHistory, 'effects'>;
  /** Heartbeat times per worker id. */
  readonly heartbeats: ReadonlyMap<string, number[]>;
  /** Adds a submit; the returned record is updated in place when the ack (or the failure) arrives. */
  recordSubmit(record: SubmitRecord): SubmitRecord;
  /** Calls `fn` for every job event seen from now on; returns a function that stops it. */
  onEvent(fn: (e: ObservedEvent) => void): () => void;
  /**
   * Resolves with the first job event (already seen or future) that matches; rejects after `timeoutMs` or when
   * `signal` aborts.
   */
  waitForEvent(
    what: string,
    pred: (e: ObservedEvent) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<ObservedEvent>;
  /** Unsubscribes (the connection stays the caller's). */
  stop(): void;
}

const KINDS: Record<number, ObservedEvent['kind']> = {
  [JobEventKind.TRANSITION]: 'TRANSITION',
  [JobEventKind.PROGRESS]: 'PROGRESS',
  [JobEventKind.DUPLICATE]: 'DUPLICATE',
  [JobEventKind.REJECTED]: 'REJECTED',
};
const DIRECT_SUBJECT = /^worker\.([^.]+)\.jobs$/;
const STALE_EPOCH = /stale lease epoch (\d+)/;

/**
 * Subscribes (plain NATS subscriptions, no queue groups: it takes nothing away from the workers or schedulers) to
 * every dispatch subject (`job.>`, `worker.*.jobs`), results, refused results, job events and heartbeats.
 * `nc` should be a connection of its own, made before the run starts.
 */
export function createHistoryRecorder(nc: NatsConnection): HistoryRecorder {
  const history: Omit<ObservedHistory, 'effects'> = {
    submits: [],
    dispatches: [],
    results: [],
    refusals: [],
    submitDeadLetters: [],
    events: [],
  };
  const heartbeats = new Map<string, number[]>();
  const listeners = new Set<(e: ObservedEvent) => void>();
  const subs: Subscription[] = [];
  const on = (subject: string, handle: (m: Msg) => void) =>
    subs.push(
      nc.subscribe(subject, {
        callback: (err, m) => {
          if (err) return;
          try {
            handle(m);
          } catch {
            // Garbage on a subject (a poison test) is not part of the history.
          }
        },
      }),
    );
  const leaseOf = (m: Msg) => parseLease(m.headers?.get(CapstanHeaders.lease) || undefined);

  const onDispatch = (m: Msg) => {
    const packet = decodePacket(m.data);
    if (packet.payload.case !== 'jobRequest') return;
    const lease = leaseOf(m);
    history.dispatches.push({
      jobId: packet.payload.value.jobId,
      attempt: lease?.attempt ?? 0,
      epoch: lease?.epoch ?? 0,
      subject: m.subject,
      workerId: DIRECT_SUBJECT.exec(m.subject)?.[1] ?? '',
      at: Date.now(),
    });
  };
  on('job.>', onDispatch);
  on('worker.*.jobs', onDispatch);
  on(Subjects.jobResult, (m) => {
    const packet = decodePacket(m.data);
    if (packet.payload.case !== 'jobResult') return;
    const r = packet.payload.value;
    const lease = leaseOf(m);
    history.results.push({
      jobId: r.jobId,
      workerId: r.workerId || packet.senderId,
      status: JobStatus[r.status] ?? String(r.status),
      ...(lease ? { attempt: lease.attempt, epoch: lease.epoch } : {}),
      at: Date.now(),
    });
  });
  on(deadLetterSubject(Subjects.jobResult), (m) => {
    const letter = decodeDeadLetter(m.data);
    const packet = decodePacket(letter.original);
    if (packet.payload.case !== 'jobResult') return;
    const stale = STALE_EPOCH.exec(letter.reason);
    history.refusals.push({
      jobId: packet.payload.value.jobId,
      workerId: packet.payload.value.workerId || packet.senderId,
      ...(stale ? { epoch: Number(stale[1]) } : {}),
      code: letter.code,
      reason: letter.reason,
      at: Date.now(),
    });
  });
  on(deadLetterSubject(Subjects.jobSubmit), (m) => {
    const letter = decodeDeadLetter(m.data);
    const packet = decodePacket(letter.original);
    if (packet.payload.case !== 'jobRequest') return;
    history.submitDeadLetters.push({
      jobId: packet.payload.value.jobId,
      code: letter.code,
      reason: letter.reason,
      at: Date.now(),
    });
  });
  on(jobEventsWildcard(), (m) => {
    const ev = fromBinary(JobEventSchema, m.data);
    const observed: ObservedEvent = {
      jobId: ev.job?.jobId ?? m.subject.split('.').at(-1) ?? '',
      kind: KINDS[ev.kind] ?? 'OTHER',
      state: ev.job?.state ?? '',
      previousState: ev.previousState,
      reason: ev.reason,
      duplicateOf: ev.duplicateOf,
      workerId: ev.job?.workerId ?? '',
      seq: Number(ev.seq),
      at: Date.now(),
    };
    history.events.push(observed);
    for (const fn of listeners) fn(observed);
  });
  on(Subjects.heartbeat, (m) => {
    const packet = decodePacket(m.data);
    if (packet.payload.case !== 'heartbeat') return;
    const id = packet.payload.value.workerId;
    const list = heartbeats.get(id);
    if (list) list.push(Date.now());
    else heartbeats.set(id, [Date.now()]);
  });

  const waitUntil = (what: string, done: () => boolean, timeoutMs: number, signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      if (done()) return resolve();
      const finish = (err?: Error) => {
        clearInterval(timer);
        clearTimeout(limit);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onAbort = () => finish(new Error(`stopped waiting for ${what}`));
      const timer = setInterval(() => {
        if (done()) finish();
      }, 20);
      const limit = setTimeout(
        () => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
        timeoutMs,
      );
      signal?.addEventListener('abort', onAbort);
    });

  return {
    history,
    heartbeats,
    recordSubmit(record) {
      history.submits.push(record);
      return record;
    },
    onEvent(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    async waitForEvent(what, pred, timeoutMs, signal) {
      let found: ObservedEvent | undefined;
      let scanned = 0;
      await waitUntil(
        what,
        () => {
          // Only the events that arrived since the last look.
          for (; scanned < history.events.length && !found; scanned++) {
            const e = history.events[scanned]!;
            if (pred(e)) found = e;
          }
          return found !== undefined;
        },
        timeoutMs,
        signal,
      );
      return found!;
    },
    stop() {
      for (const s of subs) s.unsubscribe();
      listeners.clear();
    },
  };
}
