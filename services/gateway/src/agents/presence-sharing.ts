import { randomUUID } from 'node:crypto';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { Bus } from '@capstan/bus';
import {
  type PresenceAnnouncement,
  PresenceAnnouncementSchema,
  PresenceOp,
} from '@capstan/gen/capstan/gateway/v1/presence_pb';
import { CapstanSubjects } from '@capstan/protocol';
import type { Logger } from 'pino';
import type { AgentPresence } from './agent-presence.js';

/** Most worker ids in one announcement: 1000 ids of ≤ 128 characters stay far below NATS' 1 MiB payload limit. */
export const PRESENCE_ANNOUNCEMENT_MAX_WORKERS = 1000;

/** Longest agent id accepted in an announcement (a worker id is one NATS subject token). */
const MAX_AGENT_ID_LENGTH = 256;

/**
 * Decodes and checks an announcement (`capstan.gateway.v1.PresenceAnnouncement`); undefined when it is not one:
 * undecodable bytes, no sender, an unknown op, too many or malformed agent ids.
 */
export function parsePresenceAnnouncement(data: Uint8Array): PresenceAnnouncement | undefined {
  let a: PresenceAnnouncement;
  try {
    a = fromBinary(PresenceAnnouncementSchema, data);
  } catch {
    return undefined;
  }
  const known = a.op >= PresenceOp.UP && a.op <= PresenceOp.BYE;
  const idsOk =
    a.agentIds.length <= PRESENCE_ANNOUNCEMENT_MAX_WORKERS &&
    a.agentIds.every((id) => id.length > 0 && id.length <= MAX_AGENT_ID_LENGTH);
  return a.replica.length > 0 && a.replica.length <= 256 && known && idsOk ? a : undefined;
}

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

  const publish = (op: PresenceOp, workers: readonly string[] = []) => {
    if (nc.isClosed()) return;
    for (let start = 0; start === 0 || start < workers.length; start += PRESENCE_ANNOUNCEMENT_MAX_WORKERS) {
      const chunk = workers.slice(start, start + PRESENCE_ANNOUNCEMENT_MAX_WORKERS);
      const announcement = create(PresenceAnnouncementSchema, { replica: replicaId, op, agentIds: chunk });
      try {
        nc.publish(CapstanSubjects.gatewayPresence, toBinary(PresenceAnnouncementSchema, announcement));
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
    if (workers.length > 0) publish(PresenceOp.SNAPSHOT, workers);
  };

  const apply = (data: Uint8Array) => {
    const a = parsePresenceAnnouncement(data);
    if (!a) {
      ignored++;
      return;
    }
    if (a.replica === replicaId) return;
    received++;
    switch (a.op) {
      case PresenceOp.UP:
      case PresenceOp.SNAPSHOT:
        presence.observeRemote(a.replica, a.agentIds);
        break;
      case PresenceOp.DOWN:
        presence.forgetRemote(a.replica, a.agentIds);
        break;
      case PresenceOp.BYE:
        presence.forgetRemote(a.replica);
        break;
      case PresenceOp.HELLO:
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
    publish(connected ? PresenceOp.UP : PresenceOp.DOWN, [workerId]);
  });
  const timer = setInterval(snapshot, refreshMs);
  timer.unref();
  publish(PresenceOp.HELLO);
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
      publish(PresenceOp.BYE);
      if (!subscription.isClosed()) subscription.unsubscribe();
      if (!nc.isClosed()) await nc.flush().catch(() => {});
    },
  };
}
