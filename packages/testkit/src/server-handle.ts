/** A server process started by the test kit. */
export interface ServerHandle {
  /** Client URL, always on 127.0.0.1 (e.g. `nats://127.0.0.1:41234`). */
  url: string;
  /** The client port (a free port chosen at start unless given). */
  port: number;
  /** The temp dir holding the server's data, config and `*.log`; deleted by `stop()`. */
  dataDir: string;
  /** OS process id of the server (changes after a restart). */
  pid: number;
  /** Stops the server (graceful signal, SIGKILL after a timeout) and deletes `dataDir`. Idempotent. */
  stop(): Promise<void>;
}

/** A nats-server started by the test kit. */
export interface NatsHandle extends ServerHandle {
  /** HTTP monitoring endpoint (`/healthz`, `/varz`, `/jsz`, ...) on 127.0.0.1. */
  monitorUrl: string;
  /** The node's `server_name` (JetStream clusters need distinct names). */
  serverName: string;
  /**
   * Restarts the server on the same port and data dir, so JetStream state survives. Graceful (SIGTERM) by
   * default; `kill: true` simulates a crash with SIGKILL. Resolves when the server is healthy again.
   */
  restart(opts?: { kill?: boolean }): Promise<void>;
}
