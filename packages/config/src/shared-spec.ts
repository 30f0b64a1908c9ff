import { defineConfig } from './config-field.js';
import {
  databaseUrl,
  gatewayMetricsPort,
  gatewayPort,
  listenHost,
  logLevel,
  natsUrl,
  redisUrl,
  s3,
  safetyKernelMetricsPort,
  safetyKernelPort,
  schedulerMetricsPort,
} from './shared-fields.js';

/**
 * Every shared field in one spec. Services pick the fields they need into their own spec; this one exists so
 * documentation and tooling can list all shared settings from a single place.
 */
export const sharedConfigSpec = defineConfig({
  natsUrl,
  redisUrl,
  databaseUrl,
  s3,
  logLevel,
  listenHost,
  gatewayPort,
  gatewayMetricsPort,
  safetyKernelPort,
  safetyKernelMetricsPort,
  schedulerMetricsPort,
});
