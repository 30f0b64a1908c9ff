import { ConfigError, DEFAULT_PORTS, loadConfig } from '@capstan/config';
import { describe, expect, it } from 'vitest';
import { safetyKernelConfigSpec } from './safety-kernel-config.js';

describe('safetyKernelConfigSpec', () => {
  it('has the documented defaults', () => {
    expect(loadConfig(safetyKernelConfigSpec, { env: {} })).toMatchObject({
      port: DEFAULT_PORTS.safetyKernel,
      metricsPort: DEFAULT_PORTS.safetyKernelMetrics,
      policyFile: '',
      keepSnapshots: 20,
      approvalTtlMs: 86_400_000,
      listenHost: '127.0.0.1',
    });
  });

  it('reads every variable, with SAFETY_KERNEL_PORT as the fallback of CAPSTAN_SAFETY_KERNEL_PORT', () => {
    const config = loadConfig(safetyKernelConfigSpec, {
      env: {
        SAFETY_KERNEL_PORT: '0',
        CAPSTAN_SAFETY_KERNEL_METRICS_PORT: '0',
        CAPSTAN_POLICY_FILE: '/etc/capstan/policy.yaml',
        CAPSTAN_POLICY_KEEP_SNAPSHOTS: '5',
        CAPSTAN_APPROVAL_TTL_MS: '60000',
        NATS_URL: 'nats://n:4222',
        REDIS_URL: 'redis://r:6379',
        DATABASE_URL: 'postgres://u:p@db:5432/capstan',
        CAPSTAN_LISTEN_HOST: '0.0.0.0',
        CAPSTAN_LOG_LEVEL: 'debug',
      },
    });
    expect(config).toEqual({
      port: 0,
      metricsPort: 0,
      policyFile: '/etc/capstan/policy.yaml',
      keepSnapshots: 5,
      approvalTtlMs: 60_000,
      natsUrl: 'nats://n:4222',
      redisUrl: 'redis://r:6379',
      databaseUrl: 'postgres://u:p@db:5432/capstan',
      listenHost: '0.0.0.0',
      logLevel: 'debug',
    });
    expect(
      loadConfig(safetyKernelConfigSpec, { env: { SAFETY_KERNEL_PORT: '1', CAPSTAN_SAFETY_KERNEL_PORT: '2' } }).port,
    ).toBe(2);
  });

  it('names the variable and the expected form of a bad value', () => {
    expect(() =>
      loadConfig(safetyKernelConfigSpec, {
        env: { CAPSTAN_POLICY_KEEP_SNAPSHOTS: '0', CAPSTAN_APPROVAL_TTL_MS: 'soon' },
      }),
    ).toThrow(ConfigError);
    try {
      loadConfig(safetyKernelConfigSpec, {
        env: { CAPSTAN_POLICY_KEEP_SNAPSHOTS: '0', CAPSTAN_APPROVAL_TTL_MS: 'soon' },
      });
    } catch (err) {
      expect((err as Error).message).toMatch(/CAPSTAN_POLICY_KEEP_SNAPSHOTS.*1 to 1000/);
      expect((err as Error).message).toMatch(/CAPSTAN_APPROVAL_TTL_MS.*milliseconds/);
    }
  });
});
