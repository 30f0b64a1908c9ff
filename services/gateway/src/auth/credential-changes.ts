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
  const subscription = bus.nc.subscribe(CapstanSubjects.gatewayCredentialsChanged, {
    callback: (err) => {
      if (err) {
        logger.warn({ err }, 'credential change subscription error');
        return;
      }
      resolver.invalidate();
    },
  });
  const stopReconnect = bus.onReconnect(() => resolver.invalidate());
  return {
    async announce() {
      resolver.invalidate();
      let timer: NodeJS.Timeout | undefined;
      try {
        bus.nc.publish(CapstanSubjects.gatewayCredentialsChanged);
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
    stop() {
      stopReconnect();
      subscription.unsubscribe();
    },
  };
}
