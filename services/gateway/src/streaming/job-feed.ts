import type { CapstanDatabase } from '@capstan/store';
import type { Kysely } from 'kysely';
import type { HubEvent, JobEventHub } from './job-event-hub.js';
import { isFinalEvent, storedEventView } from './job-event-view.js';
import { type ResumePosition, readEventsAfter } from './stored-job-events.js';

/** An event a feed hands to its consumer: the pre-serialized view plus what the consumer needs to route it. */
export type FeedEvent = Pick<HubEvent, 'view' | 'json' | 'final'>;

/** Options of {@link openJobFeed}. */
export interface JobFeedOptions {
  db: Kysely<CapstanDatabase>;
  hub: JobEventHub;
  tenant: string;
  /** One job, or every job of the tenant (`undefined`). */
  jobId?: string;
  /** Replay stored transitions after this position before going live; `undefined`: live events only. */
  resume?: ResumePosition;
  /** Most stored events replayed. */
  replayLimit: number;
  /** Most live events held while the replay is read and sent; more means the consumer is evicted. */
  maxPending: number;
  /** Receives every event, replayed ones first, in order. */
  deliver(event: FeedEvent): void;
  /** Called once when more than `maxPending` live events piled up before {@link JobFeed.start}. */
  overflow(): void;
}

/** A feed that is subscribed and has its replay read, waiting for {@link JobFeed.start}. */
export interface JobFeed {
  /** Stored events that will be replayed. */
  readonly replayed: number;
  /** More stored events exist after the replayed ones than `replayLimit` allowed. */
  readonly truncated: boolean;
  /** Sends the replay, then the live events that arrived meanwhile (without duplicates), then goes live. */
  start(): void;
  /** Stops delivering and releases the hub listener. Idempotent. */
  stop(): void;
}

/**
 * Opens replay-then-live delivery of job events with no gap: the live listener is registered (and confirmed by the
 * NATS server) before the stored events are read, live events are held until the replay is sent, and anything
 * the replay already covered is dropped. For one job, order and uniqueness come from the per-job `seq` (progress
 * events share the seq of the transition before them). Tenant-wide, duplicates are dropped during the hand-over;
 * clients that need exactly-once should dedupe on `cursor`.
 * @throws {ResumeCursorError} when the resume cursor names nothing of the tenant.
 */
export async function openJobFeed(options: JobFeedOptions): Promise<JobFeed> {
  const { jobId, deliver } = options;
  let started = false;
  let stopped = false;
  let overflowed = false;
  const pending: HubEvent[] = [];
  let lastSeq = -1;
  let replayedCursors: Set<string> | undefined;

  const forward = (event: FeedEvent) => {
    const view = event.view;
    if (jobId !== undefined) {
      // Transitions strictly increase the seq; progress repeats the last transition's seq.
      if (view.kind === 'transition' && view.seq <= lastSeq) return;
      if (view.kind === 'progress' && view.seq < lastSeq) return;
      if (view.kind === 'transition') lastSeq = view.seq;
    } else if (replayedCursors?.has(view.cursor) && view.kind === 'transition') {
      return;
    }
    deliver(event);
  };

  const release = await options.hub.listen(options.tenant, jobId ?? '*', (event) => {
    if (stopped) return;
    if (started) {
      forward(event);
      return;
    }
    if (pending.length >= options.maxPending) {
      if (!overflowed) {
        overflowed = true;
        options.overflow();
      }
      return;
    }
    pending.push(event);
  });

  let replay: FeedEvent[] = [];
  let truncated = false;
  if (options.resume !== undefined) {
    try {
      const rows = await readEventsAfter(options.db, options.tenant, jobId, options.resume, options.replayLimit);
      truncated = rows.length > options.replayLimit;
      replay = rows.slice(0, options.replayLimit).map((row) => {
        const view = storedEventView(row);
        return { view, json: JSON.stringify(view), final: isFinalEvent(view) };
      });
    } catch (err) {
      release();
      throw err;
    }
    if (options.resume.kind === 'seq') lastSeq = options.resume.seq;
  }

  return {
    replayed: replay.length,
    truncated,
    start() {
      if (started || stopped) return;
      started = true;
      if (jobId === undefined) replayedCursors = new Set(replay.map((e) => e.view.cursor));
      for (const event of replay) {
        if (stopped) return;
        if (jobId !== undefined) lastSeq = event.view.seq;
        deliver(event);
      }
      for (const event of pending.splice(0)) {
        if (stopped) return;
        forward(event);
      }
      replayedCursors = undefined;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      pending.length = 0;
      release();
    },
  };
}
