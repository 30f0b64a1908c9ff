import { DEFAULT_PORTS, loadConfig } from '@capstan/config';
import { SAFETY_KERNEL_DEV_SERVICE } from '../kernel/kernel-endpoint.js';
import type { DevService } from './services.js';

/**
 * The scheduler, in the dev process, on the dev database (PGlite allows one connection per directory), checking
 * every job with the dev safety kernel started before it (else the configured kernel, else allow-all).
 */
export const schedulerDevService: DevService = {
  name: 'scheduler',
  async start(ctx) {
    const { schedulerConfigSpec, startSchedulerService } = await import('@capstan/scheduler-service');
    // Scheduler settings (CAPSTAN_ROUTING_FILE, CAPSTAN_NO_WORKER_WAIT_MS, ...) from the environment / config file,
    // validated like the standalone service; the servers and ports are the dev stack's.
    const config = loadConfig(schedulerConfigSpec);
    const metricsPort = await ctx.port(DEFAULT_PORTS.schedulerMetrics);
    const service = await startSchedulerService(
      {
        ...config,
        natsUrl: ctx.natsUrl,
        databaseUrl: ctx.databaseUrl,
        logLevel: ctx.logLevel,
        listenHost: ctx.host,
        metricsPort,
        schedulerId: config.schedulerId || `scheduler-dev-${process.pid}`,
        safetyKernelUrl: ctx.services[SAFETY_KERNEL_DEV_SERVICE]?.['url'] ?? config.safetyKernelUrl,
      },
      { logger: ctx.logger, store: ctx.database },
    );
    return {
      urls: { metrics: `${service.metricsUrl}/metrics`, health: `${service.metricsUrl}/healthz` },
      stop: () => service.stop(),
    };
  },
};
