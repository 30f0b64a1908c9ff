import {
  DEFAULT_PORTS,
  databaseUrl,
  field,
  listenHost,
  logLevel,
  natsUrl,
  parseIntegerEnv,
  portSchema,
  redisUrl,
  safetyKernelMetricsPort,
} from '@capstan/config';
import { z } from 'zod';

/** Configuration of the safety-kernel service (env vars, or keys of the CAPSTAN_CONFIG file). */
export const safetyKernelConfigSpec = {
  natsUrl,
  redisUrl,
  databaseUrl,
  logLevel,
  listenHost,
  /** Same file key as the shared `safetyKernelPort`; also reads the conventional `SAFETY_KERNEL_PORT`. */
  port: field({
    env: ['CAPSTAN_SAFETY_KERNEL_PORT', 'SAFETY_KERNEL_PORT'],
    key: 'safetyKernel.port',
    default: DEFAULT_PORTS.safetyKernel,
    schema: portSchema,
    fromEnv: parseIntegerEnv,
    expected: 'a TCP port number from 0 to 65535 (0 = any free port)',
    doc: 'Port serving Connect, gRPC and gRPC-Web (HTTP/1.1 and h2c) for SafetyKernel, PolicyAdmin and health.',
  }),
  metricsPort: safetyKernelMetricsPort,
  policyFile: field({
    env: 'CAPSTAN_POLICY_FILE',
    key: 'safetyKernel.policyFile',
    default: '',
    schema: z.string(),
    expected: 'a path to a policy bundle YAML file (see docs/safety-kernel.md), or empty for none',
    doc: 'Policy bundle loaded at startup (unless a newer activation is in the database) and reloaded when it changes.',
  }),
  keepSnapshots: field({
    env: 'CAPSTAN_POLICY_KEEP_SNAPSHOTS',
    key: 'safetyKernel.keepSnapshots',
    default: 20,
    schema: z.number().int().min(1).max(1000),
    fromEnv: parseIntegerEnv,
    expected: 'a whole number from 1 to 1000',
    doc: 'How many snapshots ListSnapshots / ListBundles return and each replica keeps compiled in memory.',
  }),
  approvalTtlMs: field({
    env: 'CAPSTAN_APPROVAL_TTL_MS',
    key: 'safetyKernel.approvalTtlMs',
    default: 86_400_000,
    schema: z.number().int().min(1000),
    fromEnv: parseIntegerEnv,
    expected: 'milliseconds ≥ 1000 (default 86400000 = 24 h)',
    doc: 'How long a REQUIRE_HUMAN approval stays open before it expires (the job then times out).',
  }),
} as const;
