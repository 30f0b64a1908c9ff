import { randomUUID } from 'node:crypto';
import type { Bus } from '@capstan/bus';
import { CapstanSubjects } from '@capstan/protocol';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { AgentPresence } from './agent-presence.js';

/** Most worker ids in one announcement: 1000 ids of ≤ 128 characters stay far below NATS' 1 MiB payload limit. */
export const PRESENCE_ANNOUNCEMENT_MAX_WORKERS = 1000;

/**
 * What one replica tells the others on {@link CapstanSubjects.gatewayPresence} (JSON):
 * - `up` / `down`: these workers' first session opened / last session closed here (sent at once);
 * - `snapshot`: every worker with a session here (sent every `refreshMs`, in chunks; refreshes their expiry);
 * - `hello`: a replica started and asks the others for their snapshots now instead of at their next refresh;
 * - `bye`: the replica stops; forget everything it announced.
 */
export const gatewayPresenceAnnouncementSchema = z.object({
  v: z.literal(1),
  replica: z.string().min(1).max(256),
  op: z.enum(['up', 'down', 'snapshot', 'hello', 'bye']),
  workers: z.array(z.string().min(1).max(256)).max(PRESENCE_ANNOUNCEMENT_MAX_WORKERS),
});

/** One presence announcement between gateway replicas; see {@link gatewayPresenceAnnouncementSchema}. */
export type GatewayPresenceAnnouncement = z.infer<typeof gatewayPresenceAnnouncementSchema>;

/** Options for {@link startPresenceSharing}. */
export interface PresenceSharingOptions {
  /** The NATS connection of this replica's bus. */
  nc: Bus['nc'];
  /** This replica's presence table: its local connections are announced, others' are recorded in it. */
  presence: AgentPresence;
  /**
   * How long another replica's announced connections stay live without a refresh; must match the presence's
   * `remoteTtlMs`. Snapshots are sent every third of it, so two lost snapshots in a row are tolerated.
   * @default 15000
   */
  ttlMs?: number;
  /** Interval between snapshots. @default ttlMs / 3 */
  refreshMs?: number;
  /** Readable prefix of this replica's id in announcements (a random suffix keeps ids unique). @default 'gateway' */
  replicaName?: string;
  /** Logger for dropped announcements and publish failures. */
  logger: Logger;
}

/** A running presence exchange. */
export interface PresenceSharing {
  /** This replica's id in announcements. */
  readonly replicaId: string;
  /** Announcements applied / ignored as malformed so far. */
  stats(): { received: number; ignored: number; published: number };
  /** Announces `bye`, stops refreshing and unsubscribes. Idempotent. */
  stop(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Shares WebSocket presence between gateway replicas over plain NATS (no JetStream, no queue group): an agent's
 * `agent:<id>` session lives on one replica, but `GET /v1/agents` on any replica must report it online.
 *
 * Each replica publishes changes at once (`up`/`down`) and a full snapshot every `refreshMs`; receivers keep
 * each announced worker live for `ttlMs` after the last announcement, measured on their own clock (no clock
 * skew between replicas). A replica that stops cleanly says `bye`; one that crashes is forgotten after `ttlMs`,
 * exactly like a worker whose heartbeats stop. A lost `down` is healed the same way.
 */
export function startPresenceSharing(options: PresenceSharingOptions): PresenceSharing {
  const { nc, presence, logger } = options;
  const ttlMs = options.ttlMs ?? 15_000;
  const refreshMs = options.refreshMs ?? Math.max(100, Math.floor(ttlMs / 3));
  const replicaId = `${options.replicaName || 'gateway'}:${randomUUID()}`;
  let received = 0;
  let ignored = 0;
  let published = 0;
  let stopped = false;

  const publish = (op: GatewayPresenceAnnouncement['op'], workers: readonly string[] = []) => {
    if (nc.isClosed()) return;
    for (let start = 0; start === 0 || start < workers.length; start += PRESENCE_ANNOUNCEMENT_MAX_WORKERS) {
      const chunk = workers.slice(start, start + PRESENCE_ANNOUNCEMENT_MAX_WORKERS);
      const announcement: GatewayPresenceAnnouncement = { v: 1, replica: replicaId, op, workers: chunk };
      try {
        nc.publish(CapstanSubjects.gatewayPresence, encoder.encode(JSON.stringify(announcement)));
        published++;
      } catch (err) {
        // Draining or reconnecting: the next snapshot repairs whatever this one would have said.
        logger.debug({ err, op }, 'presence announcement not published');
        return;
      }
    }
  };
  const snapshot = () => {
    const workers = presence.localConnectionIds();
    // An empty snapshot says nothing: receivers only ever refresh what is listed.
    if (workers.length > 0) publish('snapshot', workers);
  };

  const apply = (data: Uint8Array) => {
    let parsed: ReturnType<typeof gatewayPresenceAnnouncementSchema.safeParse>;
    try {
      parsed = gatewayPresenceAnnouncementSchema.safeParse(JSON.parse(decoder.decode(data)));
    } catch {
      ignored++;
      return;
    }
    if (!parsed.success) {
      ignored++;
      return;
    }
    const { replica, op, workers } = parsed.data;
    if (replica === replicaId) return;
    received++;
    switch (op) {
      case 'up':
      case 'snapshot':
        presence.observeRemote(replica, workers);
        break;
      case 'down':
        presence.forgetRemote(replica, workers);
        break;
      case 'bye':
        presence.forgetRemote(replica);
        break;
      case 'hello':
        snapshot();
        break;
    }
  };

  const subscription = nc.subscribe(CapstanSubjects.gatewayPresence, {
    callback: (err, msg) => {
      if (err) {
        logger.warn({ err }, 'presence subscription error');
        return;
      }
      apply(msg.data);
    },
  });
  const stopListening = presence.onConnectionChange((workerId, connected) => {
    publish(connected ? 'up' : 'down', [workerId]);
  });
  const timer = setInterval(snapshot, refreshMs);
  timer.unref();
  publish('hello');
  // Sessions opened before sharing started (none in the gateway's own wiring, but possible in embedders).
  snapshot();

  return {
    replicaId,
    stats: () => ({ received, ignored, published }),
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      stopListening();
      publish('bye');
      if (!subscription.isClosed()) subscription.unsubscribe();
      if (!nc.isClosed()) await nc.flush().catch(() => {});
    },
  };
}
