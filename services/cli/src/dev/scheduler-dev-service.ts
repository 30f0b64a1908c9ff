import { DEFAULT_PORTS } from '@capstan/config';
import type { DevService } from './services.js';

/** The scheduler, in the dev process, on the dev database (PGlite allows one connection per directory). */
export const schedulerDevService: DevService = {
  name: 'scheduler',
  async start(ctx) {
    const { startSchedulerService } = await import('@capstan/scheduler-service');
    const metricsPort = await ctx.port(DEFAULT_PORTS.schedulerMetrics);
    const service = await startSchedulerService(
      {
        natsUrl: ctx.natsUrl,
        databaseUrl: ctx.databaseUrl,
        logLevel: ctx.logLevel,
        listenHost: ctx.host,
        metricsPort,
        schedulerId: `scheduler-dev-${process.pid}`,
        routingFile: process.env['CAPSTAN_ROUTING_FILE'] ?? '',
        failOpen: false,
        noWorkerWaitMs: 60_000,
      },
      { logger: ctx.logger, store: ctx.database },
    );
    return {
      urls: { metrics: `${service.metricsUrl}/metrics`, health: `${service.metricsUrl}/healthz` },
      stop: () => service.stop(),
    };
  },
};
