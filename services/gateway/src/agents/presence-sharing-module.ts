import type { GatewayRouteModule } from '../http/route-module.js';
import { startPresenceSharing } from './presence-sharing.js';

/**
 * Starts sharing this replica's WebSocket presence with the other gateway replicas on the same NATS (see
 * `presence-sharing.ts`) for as long as the app runs. It serves no route; it is a module so that it lives and
 * dies with the app: on close the WebSocket plugin ends the sessions first (each announced `down`), then this
 * says `bye`, while the bus is still open.
 */
export const presenceSharingModule: GatewayRouteModule = async (app) => {
  const { bus, presence, config, logger } = app.gateway;
  const sharing = startPresenceSharing({
    nc: bus.nc,
    presence,
    ttlMs: config.presenceTtlMs,
    replicaName: config.gatewayId,
    logger: logger.child({ component: 'presence-sharing' }),
  });
  app.addHook('onClose', async () => {
    await sharing.stop();
  });
};
