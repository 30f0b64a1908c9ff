import { DEFAULT_PORTS, loadConfig } from '@capstan/config';
import { demoCredentialsPath } from './demo-credentials-file.js';
import { ensureDemoTenant, type GatewayCall } from './demo-tenant.js';
import type { DevService } from './services.js';

/** Name of the gateway in `CAPSTAN_READY.services`. */
export const GATEWAY_DEV_SERVICE = 'gateway';

/**
 * The gateway, in the dev process, on the dev database (PGlite allows one connection per directory), NATS and
 * Redis. On first start it creates a demo organization, owner and API key through its own REST API and keeps
 * their secrets in `.capstan/demo-credentials.json` (mode 0600); later starts reuse them. The ready line shows
 * the key, so the README's `curl` works at once.
 */
export const gatewayDevService: DevService = {
  name: GATEWAY_DEV_SERVICE,
  async start(ctx) {
    const { gatewayConfigSpec, startGatewayService } = await import('@capstan/gateway-service');
    // Gateway settings (CAPSTAN_GATEWAY_RATE_LIMIT, CAPSTAN_GATEWAY_JWT_SECRET, ...) from the environment / config
    // file, validated like the standalone service; NATS, Redis and the database are the dev stack's.
    const config = loadConfig(gatewayConfigSpec);
    // 4001 when free, else a free port; a CAPSTAN_GATEWAY_PORT other than 4001 is used as is (0 = any free port).
    const port = config.port === DEFAULT_PORTS.gateway ? await ctx.port(DEFAULT_PORTS.gateway) : config.port;
    const metricsPort =
      config.metricsPort === DEFAULT_PORTS.gatewayMetrics
        ? await ctx.port(DEFAULT_PORTS.gatewayMetrics)
        : config.metricsPort;
    const service = await startGatewayService(
      {
        ...config,
        natsUrl: ctx.natsUrl,
        redisUrl: ctx.redisUrl,
        databaseUrl: ctx.databaseUrl,
        logLevel: ctx.logLevel,
        listenHost: ctx.host,
        port,
        metricsPort,
      },
      { logger: ctx.logger, store: ctx.database },
    );
    try {
      const call: GatewayCall = async ({ method, url, body, headers }) => {
        const answer = await service.app.inject({
          method,
          url,
          // Names the caller in the audit log entries these calls leave (organization.registered, api_key.created).
          headers: { 'user-agent': 'capstan-dev', ...headers },
          ...(body === undefined ? {} : { payload: body as object }),
        });
        return {
          statusCode: answer.statusCode,
          body: answer.body === '' ? null : (JSON.parse(answer.body) as unknown),
        };
      };
      const file = demoCredentialsPath(ctx.dataDir);
      const { credentials, outcome } = await ensureDemoTenant({ call, file, logger: ctx.logger });
      ctx.logger.info(
        { organization_id: credentials.organizationId, user: credentials.email, file, outcome },
        outcome === 'reused' ? `demo tenant reused from ${file}` : `demo tenant ready; secrets in ${file}`,
      );
      return {
        urls: {
          url: service.url,
          openapi: `${service.url}/v1/openapi.json`,
          docs: `${service.url}/docs`,
          metrics: `${service.metricsUrl}/metrics`,
          health: `${service.metricsUrl}/healthz`,
          demoOrganizationId: credentials.organizationId,
          demoUser: credentials.email,
          demoApiKey: credentials.apiKey,
          demoCredentials: file,
        },
        stop: () => service.stop(),
      };
    } catch (error) {
      await service.stop();
      throw error;
    }
  },
};
