import { fromBinary } from '@bufbuild/protobuf';
import type { Bus } from '@capstan/bus';
import { JobEventSchema } from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import { isSubjectToken, jobEventsWildcard } from '@capstan/protocol';
import type { Logger } from 'pino';
import { isFinalEvent, type JobEventView, liveEventView } from './job-event-view.js';

/** A live job event, decoded and serialized once for every listener. */
export interface HubEvent {
  tenant: string;
  jobId: string;
  view: JobEventView;
  /** `JSON.stringify(view)`, shared by every socket and stream that forwards it. */
  json: string;
  /** The event ends the job (terminal state or refused submit). */
  final: boolean;
}

/** Receives the events of one job, or of every job of a tenant. */
export type HubListener = (event: HubEvent) => void;

/** Counters of the hub. */
export interface JobEventHubStats {
  /** Tenants with a NATS subscription right now. */
  tenants: number;
  /** Registered listeners. */
  listeners: number;
  /** Events received from NATS. */
  received: number;
  /** Messages that were not a decodable JobEvent (ignored). */
  malformed: number;
}

/**
 * Fans the scheduler's job events out to WebSocket and SSE clients: one NATS subscription per tenant
 * (`capstan.events.job.<tenant>.>`), shared by every socket and stream of that tenant on this replica — never one
 * per socket — opened with the first listener and closed with the last. Each event is decoded and serialized once.
 */
export interface JobEventHub {
  /**
   * Registers `listener` for `jobId` (or `'*'`: every job) of `tenant`. Resolves once the tenant's subscription is
   * registered at the NATS server, so an event published after that is delivered (replay-then-live relies on it).
   * Returns the function that removes the listener.
   */
  listen(tenant: string, jobId: string, listener: HubListener): Promise<() => void>;
  stats(): JobEventHubStats;
  /** Drops every subscription and listener. */
  close(): void;
}

type NatsConnection = Bus['nc'];
type Subscription = ReturnType<NatsConnection['subscribe']>;

interface TenantFeed {
  sub: Subscription;
  ready: Promise<void>;
  all: Set<HubListener>;
  byJob: Map<string, Set<HubListener>>;
  size: number;
}

/** Creates the hub over a NATS connection (the gateway bus's). */
export function createJobEventHub(nc: NatsConnection, logger: Logger): JobEventHub {
  const feeds = new Map<string, TenantFeed>();
  let received = 0;
  let malformed = 0;
  let listeners = 0;

  const deliver = (feed: TenantFeed, event: HubEvent) => {
    const forJob = feed.byJob.get(event.jobId);
    // Listeners may remove themselves while being called (a stream that ends): iterate over copies.
    if (forJob) for (const listener of [...forJob]) listener(event);
    for (const listener of [...feed.all]) listener(event);
  };

  const open = (tenant: string): TenantFeed => {
    const sub = nc.subscribe(jobEventsWildcard(tenant), {
      callback: (err, msg) => {
        if (err) {
          logger.warn({ err, tenant }, 'job event subscription error');
          return;
        }
        received++;
        const jobId = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
        let view: JobEventView;
        try {
          view = liveEventView(jobId, fromBinary(JobEventSchema, msg.data));
        } catch {
          malformed++;
          return;
        }
        deliver(feed, { tenant, jobId, view, json: JSON.stringify(view), final: isFinalEvent(view) });
      },
    });
    // Messages only arrive after the flush below, so `feed` is always assigned when the callback runs.
    const feed: TenantFeed = { sub, ready: nc.flush(), all: new Set(), byJob: new Map(), size: 0 };
    feeds.set(tenant, feed);
    return feed;
  };

  return {
    async listen(tenant, jobId, listener) {
      if (!isSubjectToken(tenant)) throw new Error(`invalid tenant ${JSON.stringify(tenant)}`);
      const feed = feeds.get(tenant) ?? open(tenant);
      if (jobId === '*') feed.all.add(listener);
      else {
        const set = feed.byJob.get(jobId) ?? new Set();
        set.add(listener);
        feed.byJob.set(jobId, set);
      }
      feed.size++;
      listeners++;
      let removed = false;
      const remove = () => {
        if (removed) return;
        removed = true;
        if (jobId === '*') feed.all.delete(listener);
        else {
          const set = feed.byJob.get(jobId);
          set?.delete(listener);
          if (set?.size === 0) feed.byJob.delete(jobId);
        }
        feed.size--;
        listeners--;
        if (feed.size === 0 && feeds.get(tenant) === feed) {
          feeds.delete(tenant);
          feed.sub.unsubscribe();
        }
      };
      try {
        await feed.ready;
      } catch (err) {
        remove();
        throw err;
      }
      return remove;
    },
    stats: () => ({ tenants: feeds.size, listeners, received, malformed }),
    close() {
      for (const feed of feeds.values()) feed.sub.unsubscribe();
      feeds.clear();
      listeners = 0;
    },
  };
}
