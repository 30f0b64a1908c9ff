/** The two streaming transports. */
export type StreamKind = 'websocket' | 'sse';

/** Counters of the open streams of this replica. */
export interface StreamStats {
  websockets: number;
  sse: number;
  /** Clients evicted for falling behind (slow consumers), by transport, since start. */
  evictions: Record<StreamKind, number>;
}

/**
 * The open WebSocket sessions and SSE streams of this gateway replica: counted, closed together on shutdown (an
 * SSE response never ends by itself, so the HTTP server could not drain without this), and the agents connected
 * over WebSocket (for `GET /v1/workers`).
 */
export interface StreamRegistry {
  /** Registers an open stream and how to close it; returns the function that unregisters it. */
  open(kind: StreamKind, close: (reason: string) => void): () => void;
  /** Counts a slow-consumer eviction. */
  evicted(kind: StreamKind): void;
  /** Marks `workerId` connected over WebSocket until the returned function is called (nested connections count). */
  connect(workerId: string): () => void;
  /** True while an agent with this worker id holds a WebSocket session here. */
  isConnected(workerId: string): boolean;
  stats(): StreamStats;
  /** Closes every open stream (shutdown). */
  closeAll(reason: string): void;
}

/** Creates the registry. */
export function createStreamRegistry(): StreamRegistry {
  const open = new Map<symbol, { kind: StreamKind; close: (reason: string) => void }>();
  const connected = new Map<string, number>();
  const evictions: Record<StreamKind, number> = { websocket: 0, sse: 0 };
  return {
    open(kind, close) {
      const id = Symbol(kind);
      open.set(id, { kind, close });
      return () => {
        open.delete(id);
      };
    },
    evicted(kind) {
      evictions[kind]++;
    },
    connect(workerId) {
      connected.set(workerId, (connected.get(workerId) ?? 0) + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (connected.get(workerId) ?? 1) - 1;
        if (left <= 0) connected.delete(workerId);
        else connected.set(workerId, left);
      };
    },
    isConnected: (workerId) => connected.has(workerId),
    stats() {
      let websockets = 0;
      let sse = 0;
      for (const stream of open.values()) {
        if (stream.kind === 'websocket') websockets++;
        else sse++;
      }
      return { websockets, sse, evictions: { ...evictions } };
    },
    closeAll(reason) {
      for (const stream of [...open.values()]) {
        try {
          stream.close(reason);
        } catch {
          // Closing is best effort; the server closes the sockets last anyway.
        }
      }
      open.clear();
    },
  };
}
