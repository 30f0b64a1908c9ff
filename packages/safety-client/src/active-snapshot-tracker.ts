import { fromBinary } from '@bufbuild/protobuf';
import { PolicyChangedSchema } from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import { CapstanSubjects } from '@capstan/protocol';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import type { ActiveSnapshot } from './safety-kernel-policy-options.js';

/** Follows which policy snapshot is active, from `capstan.policy.changed` announcements and the store. */
export interface ActiveSnapshotTracker {
  /** The active snapshot id; empty while unknown. */
  readonly snapshotId: string;
  /** Whether decisions of the active snapshot may be cached (false while unknown). */
  readonly cacheable: boolean;
  /** Applies an announcement. */
  apply(snapshot: ActiveSnapshot, source: string): void;
  /** Re-reads the store, at most once per `minRefreshIntervalMs` unless `force`; no-op without a loader. */
  refresh(reason: string, force?: boolean): void;
  /** Resolves when the first store read (if any) finished. */
  ready(): Promise<void>;
  close(): void;
}

/** Options of {@link createActiveSnapshotTracker}. */
export interface ActiveSnapshotTrackerOptions {
  nats: NatsConnection | undefined;
  load: (() => Promise<ActiveSnapshot | undefined>) | undefined;
  logger: Logger | undefined;
  /** Called when the snapshot id or its cacheable flag changed, or when cached decisions may be stale. */
  onChange: (previous: ActiveSnapshot, next: ActiveSnapshot, source: string) => void;
  /** @default 1000 */
  minRefreshIntervalMs?: number;
}

/** Creates the tracker and subscribes to `capstan.policy.changed` when a NATS connection is given. */
export function createActiveSnapshotTracker(opts: ActiveSnapshotTrackerOptions): ActiveSnapshotTracker {
  let state: ActiveSnapshot = { snapshotId: '', cacheable: false };
  // Bumped by every bus announcement: a store read that started before one must not overwrite it.
  let generation = 0;
  let loading: Promise<void> | undefined;
  let lastLoadAt = 0;
  let closed = false;
  const minInterval = opts.minRefreshIntervalMs ?? 1000;

  const set = (next: ActiveSnapshot, source: string) => {
    const prev = state;
    state = { snapshotId: next.snapshotId, cacheable: next.cacheable };
    if (prev.snapshotId !== next.snapshotId || prev.cacheable !== next.cacheable) {
      opts.logger?.info(
        { snapshot: next.snapshotId, previous: prev.snapshotId, cacheable: next.cacheable, source },
        'active policy snapshot',
      );
      opts.onChange(prev, state, source);
    }
  };

  const load = (reason: string): Promise<void> => {
    const loader = opts.load;
    if (!loader || closed) return Promise.resolve();
    const startedAt = generation;
    lastLoadAt = Date.now();
    return loader().then(
      (s) => {
        if (s && !closed && generation === startedAt) set(s, `store (${reason})`);
      },
      (err) => opts.logger?.warn({ err, reason }, 'could not read the active policy snapshot from the store'),
    );
  };

  const tracker: ActiveSnapshotTracker = {
    get snapshotId() {
      return state.snapshotId;
    },
    get cacheable() {
      return state.cacheable;
    },
    apply(snapshot, source) {
      generation++;
      set(snapshot, source);
    },
    refresh(reason, force = false) {
      if (loading || closed) return;
      if (!force && Date.now() - lastLoadAt < minInterval) return;
      loading = load(reason).finally(() => {
        loading = undefined;
      });
    },
    ready: () => loading ?? Promise.resolve(),
    close() {
      closed = true;
      sub?.unsubscribe();
      (statusIter as { stop?: () => void } | undefined)?.stop?.();
    },
  };

  let sub: Subscription | undefined;
  let statusIter: AsyncIterable<{ type: string }> | undefined;
  const nc = opts.nats;
  if (nc) {
    sub = nc.subscribe(CapstanSubjects.policyChanged, {
      callback: (err, m) => {
        if (err) return;
        try {
          const ev = fromBinary(PolicyChangedSchema, m.data);
          if (!ev.snapshotId) throw new Error('PolicyChanged without snapshot_id');
          tracker.apply({ snapshotId: ev.snapshotId, cacheable: ev.cacheable }, `bus (${ev.source || 'unknown'})`);
        } catch (e) {
          opts.logger?.warn({ err: e, subject: m.subject }, 'ignored a malformed PolicyChanged announcement');
        }
      },
    });
    statusIter = nc.status();
    void (async () => {
      for await (const s of statusIter!) {
        if (s.type !== 'reconnect' || closed) continue;
        // Announcements sent while we were away are lost: drop cached decisions and ask the store.
        opts.onChange(state, state, 'nats reconnect');
        tracker.refresh('nats reconnect', true);
      }
    })().catch(() => {});
  }
  tracker.refresh('start', true);
  return tracker;
}
