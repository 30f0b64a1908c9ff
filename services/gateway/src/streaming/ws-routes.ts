import type { FastifyInstance, FastifyRequest } from 'fastify';
import { recordSecurityEvent } from '../audit/security-events.js';
import type { AuthContext } from '../auth/auth-context.js';
import type { CredentialHeaders, PresentedCredential } from '../auth/credential-resolver.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { GatewayRouteModule } from '../http/route-module.js';
import { startChannelSession, WsCloseCode } from './channel-session.js';
import { PHOENIX_VSN } from './phoenix-protocol.js';

/** Path of the Phoenix-channel WebSocket endpoint (the CACP seed's `ws://…:4001/ws/v1`). */
export const WEBSOCKET_PATH = '/ws/v1';

/** Largest inbound WebSocket frame; bigger ones close the socket with 1009 (clients only send small control frames). */
export const WEBSOCKET_MAX_FRAME_BYTES = 64 * 1024;

/** What the upgrade hook resolved, kept for the session (re-checked on every join and periodically). */
interface UpgradeAuth {
  auth: AuthContext;
  credential: PresentedCredential;
  headers: CredentialHeaders;
}

const upgrades = new WeakMap<FastifyRequest, UpgradeAuth>();

function queryParam(request: FastifyRequest, name: string): string | undefined {
  const value = (request.query as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * `GET /ws/v1?token=<API key or JWT>&vsn=2.0.0`: the Phoenix Channels v2 WebSocket. Browsers cannot send headers
 * on an upgrade, so the credential travels in `token` (an `X-API-Key` or `Authorization` header works too). It is
 * checked before the upgrade: a missing or rejected credential gets the HTTP 401 JSON error instead of a socket.
 */
export const websocketRoutes: GatewayRouteModule = async (app) => {
  const gateway = app.gateway;

  app.route({
    method: 'GET',
    url: WEBSOCKET_PATH,
    // The credential is in the query string, which the shared header-based authentication does not read.
    config: { access: 'public' },
    schema: { hide: true },
    onRequest: async (request) => {
      const vsn = queryParam(request, 'vsn');
      if (vsn !== undefined && !vsn.startsWith('2.')) {
        throw new GatewayError(
          'INVALID_REQUEST',
          `Unsupported Phoenix serializer vsn=${vsn.slice(0, 16)}; use vsn=${PHOENIX_VSN}`,
          {
            details: [{ field: 'vsn', message: `expected ${PHOENIX_VSN}`, location: 'query' }],
          },
        );
      }
      const token = queryParam(request, 'token');
      const headers: CredentialHeaders = {
        authorization: token !== undefined ? `Bearer ${token}` : request.headers.authorization,
        'x-api-key': token !== undefined ? undefined : request.headers['x-api-key'],
        'x-organization-id': request.headers['x-organization-id'],
      };
      try {
        const credential = gateway.credentials.read(headers);
        if (!credential) {
          throw new GatewayError(
            'AUTHENTICATION_REQUIRED',
            'Authentication required: connect to /ws/v1?token=<cacp_ API key or JWT>',
            { details: [{ field: 'token', message: 'missing', location: 'query' }] },
          );
        }
        const auth = await gateway.credentials.resolve(credential, headers);
        request.auth = auth;
        upgrades.set(request, { auth, credential, headers });
      } catch (err) {
        const presented =
          token !== undefined || headers.authorization !== undefined || headers['x-api-key'] !== undefined;
        if (presented && err instanceof GatewayError) {
          await recordSecurityEvent(gateway, request, 'auth.credential_rejected', err);
        }
        throw err;
      }
    },
    handler: async () => {
      throw new GatewayError('INVALID_REQUEST', `${WEBSOCKET_PATH} speaks WebSocket only: send an Upgrade request`);
    },
    wsHandler: (socket, request) => {
      const resolved = upgrades.get(request);
      upgrades.delete(request);
      if (!resolved) {
        socket.close(4001, 'not authenticated');
        return;
      }
      startChannelSession(gateway, {
        socket,
        ...resolved,
        logger: gateway.logger.child({ component: 'websocket', trace_id: request.id }),
      });
    },
  });
};

/**
 * The `preClose` of the @fastify/websocket plugin: SSE responses and sockets never end by themselves, so they are
 * closed before the HTTP server drains — sockets with 1001 (going away: reconnect elsewhere) rather than the plugin's
 * default close without a code — and the WebSocket server stops.
 */
export async function closeStreamsOnShutdown(this: FastifyInstance): Promise<void> {
  this.gateway.streams.closeAll('server shutting down');
  for (const client of this.websocketServer.clients) client.close(WsCloseCode.goingAway, 'server shutting down');
  await new Promise<void>((resolve) => this.websocketServer.close(() => resolve()));
}
