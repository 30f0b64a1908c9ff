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
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

/**
 * Who is live right now, from CAP heartbeats (every gateway replica sees every `sys.heartbeat`) and from
 * connections the gateway holds itself (WebSocket sessions register with {@link AgentPresence.connect}).
 * An agent maps to the worker whose `worker_id` equals the agent's `worker_id` (its `agent_id` by default).
 */
export interface AgentPresence {
  /** Records a heartbeat. */
  observe(beat: Omit<WorkerBeat, 'seenAt'>): void;
  /** Marks `workerId` connected until the returned function is called (counts nested connections). */
  connect(workerId: string): () => void;
  /** `busy` when live and at capacity (active ≥ max parallel, max > 0), `online` when live, else `offline`. */
  availability(workerId: string): Availability;
  /** Ids of every live worker (fresh beat or open connection). */
  liveWorkerIds(): string[];
  /** Ids of live workers at capacity. */
  busyWorkerIds(): string[];
  /** The latest beat of a live worker. */
  beat(workerId: string): WorkerBeat | undefined;
  /** Drops expired beats (also done lazily); returns how many were dropped. */
  sweep(): number;
}

/** Creates the in-memory presence table. */
export function createAgentPresence(options: AgentPresenceOptions = {}): AgentPresence {
  const ttlMs = options.ttlMs ?? 15_000;
  const maxWorkers = options.maxWorkers ?? 100_000;
  const now = options.now ?? Date.now;
  const beats = new Map<string, WorkerBeat>();
  const connections = new Map<string, number>();

  const fresh = (beat: WorkerBeat | undefined, at: number): beat is WorkerBeat =>
    beat !== undefined && at - beat.seenAt < ttlMs;
  const atCapacity = (beat: WorkerBeat | undefined) =>
    beat !== undefined && beat.maxParallelJobs > 0 && beat.activeJobs >= beat.maxParallelJobs;

  const presence: AgentPresence = {
    observe(beat) {
      if (!beat.workerId) return;
      if (!beats.has(beat.workerId) && beats.size >= maxWorkers && presence.sweep() === 0) return;
      beats.set(beat.workerId, { ...beat, seenAt: now() });
    },
    connect(workerId) {
      connections.set(workerId, (connections.get(workerId) ?? 0) + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (connections.get(workerId) ?? 1) - 1;
        if (left <= 0) connections.delete(workerId);
        else connections.set(workerId, left);
      };
    },
    availability(workerId) {
      const beat = beats.get(workerId);
      const live = fresh(beat, now());
      if (!live && !connections.has(workerId)) return 'offline';
      return live && atCapacity(beat) ? 'busy' : 'online';
    },
    liveWorkerIds() {
      const at = now();
      const ids = new Set(connections.keys());
      for (const [id, beat] of beats) if (fresh(beat, at)) ids.add(id);
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
      let dropped = 0;
      for (const [id, beat] of beats) {
        if (!fresh(beat, at)) {
          beats.delete(id);
          dropped++;
        }
      }
      return dropped;
    },
  };
  return presence;
}
