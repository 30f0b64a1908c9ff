import type { Handshake } from '@capstan/gen/cordum/agent/v1/handshake_pb';
import type { Heartbeat } from '@capstan/gen/cordum/agent/v1/heartbeat_pb';

/** What the scheduler knows about one live worker, from its heartbeats and handshake. */
export interface WorkerInfo {
  workerId: string;
  pool: string;
  region: string;
  type: string;
  activeJobs: number;
  maxParallelJobs: number;
  cpuLoad: number;
  memoryLoad: number;
  labels: Readonly<Record<string, string>>;
  capabilities: readonly string[];
  /** Topics from the worker's handshake `ready_topics`. */
  readyTopics: readonly string[];
  /** Advertised `direct_dispatch` in its handshake: it listens on `worker.<id>.jobs`. */
  directDispatch: boolean;
  progressPct: number;
  lastMemo: string;
  firstSeenMs: number;
  lastSeenMs: number;
  /** Observed heartbeat interval (EWMA), ms; 0 until two beats were seen. */
  intervalMs: number;
  /**
   * Jobs the scheduler sent that the last heartbeat cannot have counted yet (sent less than the registry's
   * `reservationCoverMs` before it arrived, or after it): heartbeats lag behind dispatches.
   */
  reserved: number;
  /** `active_jobs` exactly as the last heartbeat said (`activeJobs` is also lowered locally as results arrive). */
  reportedActiveJobs: number;
}

/** Options for {@link createWorkerRegistry}. */
export interface WorkerRegistryOptions {
  /** A worker is gone after this many missed beats; @default 3 */
  missedBeats?: number;
  /** Expiry before the interval is known, and its upper bound; @default 15000 */
  maxExpiryMs?: number;
  /** Lower bound of the expiry; @default 3000 */
  minExpiryMs?: number;
  /**
   * A job sent this long before a heartbeat arrived is taken to be in that beat's `active_jobs` (or done); one
   * sent later is still counted as reserved, so a beat sent while jobs are on the wire does not make the worker
   * look idle. @default 100
   */
  reservationCoverMs?: number;
}

/** Live workers known from `sys.heartbeat` and `sys.handshake`. */
export interface WorkerRegistry {
  observeHeartbeat(hb: Heartbeat, nowMs: number): WorkerInfo;
  observeHandshake(hs: Handshake, nowMs: number): void;
  /** Counts the dispatch of `jobId` against the worker until a heartbeat can have counted it. */
  reserve(workerId: string, jobId: string, nowMs: number): void;
  /**
   * A job of the worker finished (or will not reach it): frees its slot without waiting for the next beat — the
   * reservation of `jobId` when it is still counted, else one of the active jobs the last heartbeat reported.
   */
  release(workerId: string, jobId?: string): void;
  get(workerId: string): WorkerInfo | undefined;
  /** True while the worker's beats are on time. */
  isLive(workerId: string, nowMs: number): boolean;
  /** Workers whose beats are on time. */
  live(nowMs: number): WorkerInfo[];
  /** Drops workers that missed their beats and returns them. */
  expire(nowMs: number): WorkerInfo[];
  /** The time after which `workerId` counts as gone. */
  expiresAt(workerId: string): number | undefined;
  size(): number;
}

/** How long a quiet worker's handshake is remembered. */
export const HANDSHAKE_RETENTION_MS = 10 * 60_000;

/** Creates an in-memory worker registry; every scheduler replica keeps its own from the fan-out subjects. */
export function createWorkerRegistry(opts: WorkerRegistryOptions = {}): WorkerRegistry {
  const missedBeats = opts.missedBeats ?? 3;
  const maxExpiry = opts.maxExpiryMs ?? 15_000;
  const minExpiry = opts.minExpiryMs ?? 3_000;
  const coverMs = opts.reservationCoverMs ?? 100;
  const workers = new Map<string, WorkerInfo>();
  /**
   * What each worker's handshake advertised, kept while it beats and for {@link HANDSHAKE_RETENTION_MS} after it went
   * quiet (one that comes back soon keeps direct dispatch without a new handshake), then dropped: workers with fresh
   * ids (autoscaling) must not grow this map for ever.
   */
  const handshakes = new Map<string, { readyTopics: string[]; directDispatch: boolean; seenMs: number }>();
  /** Per worker: reserved job id → when it was sent, for the reservations no heartbeat can have counted yet. */
  const pending = new Map<string, Map<string, number>>();

  const expiryOf = (w: WorkerInfo) =>
    w.lastSeenMs +
    (w.intervalMs > 0 ? Math.min(maxExpiry, Math.max(minExpiry, missedBeats * w.intervalMs)) : maxExpiry);

  return {
    observeHeartbeat(hb, nowMs) {
      const prev = workers.get(hb.workerId);
      const hs = handshakes.get(hb.workerId);
      if (hs) hs.seenMs = nowMs;
      const gap = prev ? nowMs - prev.lastSeenMs : 0;
      const info: WorkerInfo = {
        workerId: hb.workerId,
        pool: hb.pool,
        region: hb.region,
        type: hb.type,
        activeJobs: hb.activeJobs,
        reportedActiveJobs: hb.activeJobs,
        maxParallelJobs: hb.maxParallelJobs,
        cpuLoad: hb.cpuLoad,
        memoryLoad: hb.memoryLoad,
        labels: { ...hb.labels },
        capabilities: [...hb.capabilities],
        readyTopics: hs?.readyTopics ?? prev?.readyTopics ?? [],
        directDispatch: hs?.directDispatch ?? prev?.directDispatch ?? false,
        progressPct: hb.progressPct,
        lastMemo: hb.lastMemo,
        firstSeenMs: prev?.firstSeenMs ?? nowMs,
        lastSeenMs: nowMs,
        intervalMs:
          !prev || gap <= 0
            ? (prev?.intervalMs ?? 0)
            : prev.intervalMs === 0
              ? gap
              : Math.round(prev.intervalMs * 0.7 + gap * 0.3),
        reserved: 0,
      };
      const reservations = pending.get(hb.workerId);
      if (reservations) {
        for (const [jobId, at] of reservations) if (at <= nowMs - coverMs) reservations.delete(jobId);
        info.reserved = reservations.size;
      }
      workers.set(hb.workerId, info);
      return info;
    },
    observeHandshake(hs, nowMs) {
      const entry = { readyTopics: [...hs.readyTopics], directDispatch: hs.capabilities['direct_dispatch'] === true };
      handshakes.set(hs.componentId, { ...entry, seenMs: nowMs });
      const w = workers.get(hs.componentId);
      if (w) workers.set(hs.componentId, { ...w, ...entry });
    },
    reserve(workerId, jobId, nowMs) {
      const w = workers.get(workerId);
      if (!w) return;
      let reservations = pending.get(workerId);
      if (!reservations) {
        reservations = new Map();
        pending.set(workerId, reservations);
      }
      reservations.set(jobId, nowMs);
      w.reserved = reservations.size;
    },
    release(workerId, jobId) {
      const w = workers.get(workerId);
      if (!w) return;
      const reservations = pending.get(workerId);
      if (jobId !== undefined && reservations?.delete(jobId)) w.reserved = reservations.size;
      else if (w.activeJobs > 0) w.activeJobs--;
    },
    get: (workerId) => workers.get(workerId),
    isLive(workerId, nowMs) {
      const w = workers.get(workerId);
      return w !== undefined && nowMs <= expiryOf(w);
    },
    live(nowMs) {
      return [...workers.values()].filter((w) => nowMs <= expiryOf(w));
    },
    expire(nowMs) {
      const gone: WorkerInfo[] = [];
      for (const w of workers.values()) {
        if (nowMs > expiryOf(w)) {
          workers.delete(w.workerId);
          pending.delete(w.workerId);
          gone.push(w);
        }
      }
      for (const [workerId, hs] of handshakes)
        if (!workers.has(workerId) && nowMs - hs.seenMs > HANDSHAKE_RETENTION_MS) handshakes.delete(workerId);
      return gone;
    },
    expiresAt(workerId) {
      const w = workers.get(workerId);
      return w ? expiryOf(w) : undefined;
    },
    size: () => workers.size,
  };
}
