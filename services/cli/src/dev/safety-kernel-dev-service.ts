import { readFileSync } from 'node:fs';
import { DEFAULT_PORTS, loadConfig } from '@capstan/config';
import { loadBundle } from '@capstan/policy';
import { SAFETY_KERNEL_DEV_SERVICE } from '../kernel/kernel-endpoint.js';
import { DEV_POLICY_FILE } from './dev-policy.js';
import type { DevService } from './services.js';

/**
 * The safety kernel, in the dev process, on the dev database (PGlite allows one connection per directory), with
 * the dev policy bundle unless `CAPSTAN_POLICY_FILE` names another. Started before the scheduler, which finds its
 * URL in `ctx.services['safety-kernel'].url`.
 */
export const safetyKernelDevService: DevService = {
  name: SAFETY_KERNEL_DEV_SERVICE,
  async start(ctx) {
    const { safetyKernelConfigSpec, startSafetyKernelService } = await import('@capstan/safety-kernel-service');
    // Kernel settings (CAPSTAN_POLICY_FILE, CAPSTAN_APPROVAL_TTL_MS, ...) from the environment / config file,
    // validated like the standalone service; the servers and the port are the dev stack's.
    const config = loadConfig(safetyKernelConfigSpec);
    const port = await ctx.port(DEFAULT_PORTS.safetyKernel);
    // 9092 when free, else a free port; a CAPSTAN_SAFETY_KERNEL_METRICS_PORT other than 9092 is used as is.
    const metricsPort =
      config.metricsPort === DEFAULT_PORTS.safetyKernelMetrics
        ? await ctx.port(DEFAULT_PORTS.safetyKernelMetrics)
        : config.metricsPort;
    const policyFile = config.policyFile || DEV_POLICY_FILE;
    const service = await startSafetyKernelService(
      {
        ...config,
        natsUrl: ctx.natsUrl,
        redisUrl: ctx.redisUrl,
        databaseUrl: ctx.databaseUrl,
        logLevel: ctx.logLevel,
        listenHost: ctx.host,
        port,
        metricsPort,
        policyFile,
      },
      { logger: ctx.logger, store: ctx.database },
    );
    // The kernel keeps the newest activation in the database when it is newer than the file (an upload made in a
    // previous run, or another file then): say so, since the file is what a developer expects to be in force.
    const fileSnapshot = loadBundle(readFileSync(policyFile, 'utf8'), { file: policyFile }).snapshotId;
    if (service.activeSnapshot() !== fileSnapshot) {
      ctx.logger.warn(
        { active: service.activeSnapshot(), policy_file: policyFile, file_snapshot: fileSnapshot },
        `the safety kernel keeps snapshot ${service.activeSnapshot()}, activated after ${policyFile} was last ` +
          `changed; to use the file, run: capstan policy upload ${policyFile} --activate (or save the file again)`,
      );
    }
    return {
      urls: {
        url: service.url,
        policyFile,
        metrics: `${service.metricsUrl}/metrics`,
        health: `${service.metricsUrl}/healthz`,
      },
      stop: () => service.stop(),
    };
  },
};
