import type { Bus } from '@capstan/bus';
import { parsePacket, Subjects } from '@capstan/protocol';
import type { Logger } from 'pino';
import type { AgentPresence } from './agent-presence.js';

/** A running heartbeat subscription. */
export interface HeartbeatSubscription {
  /** Heartbeats applied / ignored as malformed so far. */
  stats(): { observed: number; ignored: number };
  /** Unsubscribes. */
  stop(): Promise<void>;
}

/**
 * Feeds every `sys.heartbeat` into `presence` (every gateway replica sees every beat: no queue group).
 * Subscribes on the raw connection and drops malformed packets after counting them: the scheduler already
 * dead-letters them, and a second copy per gateway replica would only add noise.
 */
export function subscribeHeartbeats(bus: Bus, presence: AgentPresence, logger: Logger): HeartbeatSubscription {
  let observed = 0;
  let ignored = 0;
  const sub = bus.nc.subscribe(Subjects.heartbeat, {
    callback: (err, msg) => {
      if (err) {
        logger.warn({ err }, 'heartbeat subscription error');
        return;
      }
      const parsed = parsePacket<'heartbeat'>(msg.data, { expect: ['heartbeat'] });
      if (!parsed.ok) {
        ignored++;
        return;
      }
      const beat = parsed.packet.payload.value;
      observed++;
      presence.observe({
        workerId: beat.workerId,
        pool: beat.pool,
        activeJobs: beat.activeJobs,
        maxParallelJobs: beat.maxParallelJobs,
        cpuLoad: beat.cpuLoad,
        capabilities: beat.capabilities,
      });
    },
  });
  return {
    stats: () => ({ observed, ignored }),
    async stop() {
      if (!sub.isClosed()) sub.unsubscribe();
    },
  };
}
