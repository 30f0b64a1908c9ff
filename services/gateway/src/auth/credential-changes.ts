import { randomUUID } from 'node:crypto';
import type { Bus } from '@capstan/bus';
import { CapstanSubjects } from '@capstan/protocol';
import type { Logger } from 'pino';
import type { CredentialResolver } from './credential-resolver.js';

/** Keeps every replica's credential cache in step with changes to API keys and users. */
export interface CredentialChanges {
  /**
   * Call after committing a change that affects authentication (a key revoked, a user disabled or given another
   * role): this replica forgets its cached credentials at once, and every other replica when the announcement
   * arrives. Resolves once the NATS server has the announcement (at most {@link ANNOUNCE_FLUSH_TIMEOUT_MS}), so a
   * client that got the response and turns to another replica finds it told already. Never throws.
   */
  announce(): Promise<void>;
  /**
   * Calls `listener` after every change this replica learns of (its own, another replica's, or a NATS reconnect
   * that may have hidden some), once the cache was dropped: live WebSocket and SSE sessions re-check their
   * credential then, so a revoked key ends them at once. Returns the function that removes the listener.
   */
  onChange(listener: () => void): () => void;
  stop(): void;
}

/** How long {@link CredentialChanges.announce} waits for the NATS server to confirm. */
export const ANNOUNCE_FLUSH_TIMEOUT_MS = 1000;

/**
 * Shares credential changes over `capstan.gateway.credentials.changed` (every replica, no queue group). After a
 * NATS reconnect the cache is dropped too, since announcements sent while disconnected are lost; the resolver's
 * TTL bounds what even that misses.
 */
export function shareCredentialChanges(bus: Bus, resolver: CredentialResolver, logger: Logger): CredentialChanges {
  const listeners = new Set<() => void>();
  const changed = () => {
    resolver.invalidate();
    for (const listener of listeners) {
      try {
        listener();
      } catch (err) {
        logger.warn({ err }, 'a credential change listener failed');
      }
    }
  };
  // The payload names the announcing replica, which has already acted on its own change.
  const origin = randomUUID();
  const subscription = bus.nc.subscribe(CapstanSubjects.gatewayCredentialsChanged, {
    callback: (err, msg) => {
      if (err) {
        logger.warn({ err }, 'credential change subscription error');
        return;
      }
      if (msg.string() === origin) return;
      changed();
    },
  });
  const stopReconnect = bus.onReconnect(changed);
  return {
    async announce() {
      changed();
      let timer: NodeJS.Timeout | undefined;
      try {
        bus.nc.publish(CapstanSubjects.gatewayCredentialsChanged, origin);
        await Promise.race([
          bus.nc.flush(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('no PONG from the NATS server')), ANNOUNCE_FLUSH_TIMEOUT_MS);
          }),
        ]);
      } catch (err) {
        // The other replicas fall back on the cache TTL.
        logger.warn({ err }, 'could not announce a credential change to the other gateway replicas');
      } finally {
        clearTimeout(timer);
      }
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop() {
      listeners.clear();
      stopReconnect();
      subscription.unsubscribe();
    },
  };
}
