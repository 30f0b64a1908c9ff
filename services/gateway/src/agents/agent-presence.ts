/** Live availability of an agent. */
export type Availability = 'online' | 'busy' | 'offline';

/** What the gateway keeps from a worker's latest `sys.heartbeat`. */
export interface WorkerBeat {
  workerId: string;
  pool: string;
  activeJobs: number;
  maxParallelJobs: number;
  cpuLoad: number;
  capabilities: readonly string[];
  /** When the beat arrived (ms since epoch). */
  seenAt: number;
}

/** Options for {@link createAgentPresence}. */
export interface AgentPresenceOptions {
  /** A worker is live while its last beat is younger than this. @default 15000 */
  ttlMs?: number;
  /** Most workers tracked; beats from new workers beyond it are dropped (bounded memory). @default 100000 */
  maxWorkers?: number;
  /**
   * Connections announced by other gateway replicas stay live this long after their last announcement (see
   * `presence-sharing.ts`, which refreshes them every third of it). @default ttlMs
   */
  remoteTtlMs?: number;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

/** Called when a worker's first connection on this replica opens (`true`) or its last one closes (`false`). */
export type ConnectionListener = (workerId: string, connected: boolean) => void;

/**
 * Who is live right now, from CAP heartbeats (every gateway replica sees every `sys.heartbeat`), from
 * connections this replica holds (WebSocket sessions register with {@link AgentPresence.connect}), and from
 * connections other replicas announce over NATS ({@link AgentPresence.observeRemote}, fed by
 * `presence-sharing.ts`). An agent maps to the worker whose `worker_id` equals the agent's `worker_id` (its
 * `agent_id` by default).
 */
export interface AgentPresence {
  /** Records a heartbeat. */
  observe(beat: Omit<WorkerBeat, 'seenAt'>): void;
  /** Marks `workerId` connected until the returned function is called (counts nested connections). */
  connect(workerId: string): () => void;
  /** Ids of workers with an open connection on this replica. */
  localConnectionIds(): string[];
  /** Subscribes to this replica's connection changes (first open / last close); returns the unsubscribe. */
  onConnectionChange(listener: ConnectionListener): () => void;
  /**
   * Records that gateway replica `replicaId` holds connections of `workerIds`; each stays live for
   * `remoteTtlMs` unless announced again (a replica that dies silently is forgotten after that).
   */
  observeRemote(replicaId: string, workerIds: readonly string[]): void;
  /** Forgets `workerIds` announced by `replicaId`, or everything it announced when `workerIds` is omitted. */
  forgetRemote(replicaId: string, workerIds?: readonly string[]): void;
  /** `busy` when live and at capacity (active ≥ max parallel, max > 0), `online` when live, else `offline`. */
  availability(workerId: string): Availability;
  /** Ids of every live worker (fresh beat or open connection). */
  liveWorkerIds(): string[];
  /** Ids of live workers at capacity. */
  busyWorkerIds(): string[];
  /** The latest beat of a live worker. */
  beat(workerId: string): WorkerBeat | undefined;
  /** Drops expired beats and remote connections (also done lazily); returns how many were dropped. */
  sweep(): number;
}

/** Creates the in-memory presence table. */
export function createAgentPresence(options: AgentPresenceOptions = {}): AgentPresence {
  const ttlMs = options.ttlMs ?? 15_000;
  const maxWorkers = options.maxWorkers ?? 100_000;
  const now = options.now ?? Date.now;
  const remoteTtlMs = options.remoteTtlMs ?? ttlMs;
  const beats = new Map<string, WorkerBeat>();
  const connections = new Map<string, number>();
  // worker id → (replica id → when that replica last announced it); bounded by maxWorkers pairs in total.
  const remote = new Map<string, Map<string, number>>();
  let remotePairs = 0;
  const listeners = new Set<ConnectionListener>();

  const fresh = (beat: WorkerBeat | undefined, at: number): beat is WorkerBeat =>
    beat !== undefined && at - beat.seenAt < ttlMs;
  const atCapacity = (beat: WorkerBeat | undefined) =>
    beat !== undefined && beat.maxParallelJobs > 0 && beat.activeJobs >= beat.maxParallelJobs;

  const notify = (workerId: string, connected: boolean) => {
    for (const listener of listeners) {
      // A failing listener (e.g. a publish on a closing connection) must not break the WebSocket session.
      try {
        listener(workerId, connected);
      } catch {}
    }
  };
  const remoteLive = (workerId: string, at: number): boolean => {
    const replicas = remote.get(workerId);
    if (replicas === undefined) return false;
    for (const seenAt of replicas.values()) if (at - seenAt < remoteTtlMs) return true;
    return false;
  };
  const dropRemote = (workerId: string, replicaId: string) => {
    const replicas = remote.get(workerId);
    if (replicas?.delete(replicaId)) {
      remotePairs--;
      if (replicas.size === 0) remote.delete(workerId);
    }
  };
  const sweepBeats = (at: number): number => {
    let dropped = 0;
    for (const [id, beat] of beats) {
      if (!fresh(beat, at)) {
        beats.delete(id);
        dropped++;
      }
    }
    return dropped;
  };
  const sweepRemote = (at: number): number => {
    let dropped = 0;
    for (const [workerId, replicas] of remote) {
      for (const [replicaId, seenAt] of replicas) {
        if (at - seenAt >= remoteTtlMs) {
          dropRemote(workerId, replicaId);
          dropped++;
        }
      }
    }
    return dropped;
  };

  const presence: AgentPresence = {
    observe(beat) {
      if (!beat.workerId) return;
      if (!beats.has(beat.workerId) && beats.size >= maxWorkers && sweepBeats(now()) === 0) return;
      beats.set(beat.workerId, { ...beat, seenAt: now() });
    },
    connect(workerId) {
      const open = connections.get(workerId) ?? 0;
      connections.set(workerId, open + 1);
      if (open === 0) notify(workerId, true);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (connections.get(workerId) ?? 1) - 1;
        if (left <= 0) {
          connections.delete(workerId);
          notify(workerId, false);
        } else connections.set(workerId, left);
      };
    },
    localConnectionIds() {
      return [...connections.keys()];
    },
    onConnectionChange(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    observeRemote(replicaId, workerIds) {
      const at = now();
      for (const workerId of workerIds) {
        if (!workerId) continue;
        let replicas = remote.get(workerId);
        const known = replicas?.has(replicaId) ?? false;
        if (!known && remotePairs >= maxWorkers && sweepRemote(at) === 0) continue;
        if (replicas === undefined) {
          replicas = new Map();
          remote.set(workerId, replicas);
        }
        if (!replicas.has(replicaId)) remotePairs++;
        replicas.set(replicaId, at);
      }
    },
    forgetRemote(replicaId, workerIds) {
      if (workerIds !== undefined) {
        for (const workerId of workerIds) dropRemote(workerId, replicaId);
        return;
      }
      for (const workerId of [...remote.keys()]) dropRemote(workerId, replicaId);
    },
    availability(workerId) {
      const at = now();
      const beat = beats.get(workerId);
      const live = fresh(beat, at);
      if (!live && !connections.has(workerId) && !remoteLive(workerId, at)) return 'offline';
      return live && atCapacity(beat) ? 'busy' : 'online';
    },
    liveWorkerIds() {
      const at = now();
      const ids = new Set(connections.keys());
      for (const [id, beat] of beats) if (fresh(beat, at)) ids.add(id);
      for (const id of remote.keys()) if (remoteLive(id, at)) ids.add(id);
      return [...ids];
    },
    busyWorkerIds() {
      const at = now();
      return [...beats.values()].filter((b) => fresh(b, at) && atCapacity(b)).map((b) => b.workerId);
    },
    beat(workerId) {
      const beat = beats.get(workerId);
      return fresh(beat, now()) ? beat : undefined;
    },
    sweep() {
      const at = now();
      return sweepBeats(at) + sweepRemote(at);
    },
  };
  return presence;
}
