import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isConfigField, loadConfig } from '@capstan/config';
import { schedulerConfigSpec } from '@capstan/scheduler-service';
import { pino } from 'pino';
import { type CapstanStack, startCapstanStack } from './capstan-stack.js';
import { interopPaths } from './toolchains.js';

/**
 * The public surface of `@capstan/safety-kernel-service` this suite uses (see the safety-kernel contract). It is
 * loaded at run time, so the suite compiles and runs (showing the policy scenario as not run) while the kernel is
 * not there yet.
 */
interface SafetyKernelModule {
  safetyKernelConfigSpec: Parameters<typeof loadConfig>[0];
  startSafetyKernelService(
    config: never,
    deps?: { logger?: unknown },
  ): Promise<{ url: string; activeSnapshot(): string; stop(): Promise<void> }>;
}

const KERNEL_PACKAGE = '@capstan/safety-kernel-service';

/** Whether the policy scenario can run: the kernel service exists and the scheduler service can call it. */
export type PolicySupport = { available: true; kernel: SafetyKernelModule } | { available: false; reason: string };

/** Looks for `startSafetyKernelService` and for the scheduler's SAFETY_KERNEL_URL setting. */
export async function detectPolicySupport(): Promise<PolicySupport> {
  let kernel: SafetyKernelModule;
  try {
    // A variable specifier keeps TypeScript from resolving the module at compile time.
    const specifier: string = KERNEL_PACKAGE;
    kernel = (await import(specifier)) as SafetyKernelModule;
  } catch (error) {
    return {
      available: false,
      reason: `${KERNEL_PACKAGE} (services/safety-kernel) cannot be loaded yet (${(error as Error).message.split('\n')[0]})`,
    };
  }
  if (typeof kernel.startSafetyKernelService !== 'function' || !kernel.safetyKernelConfigSpec) {
    return {
      available: false,
      reason: `${KERNEL_PACKAGE} does not export startSafetyKernelService and safetyKernelConfigSpec yet`,
    };
  }
  const schedulerCallsKernel = Object.values(schedulerConfigSpec).some(
    (f) => isConfigField(f) && f.envNames.includes('SAFETY_KERNEL_URL'),
  );
  if (!schedulerCallsKernel) {
    return { available: false, reason: 'the scheduler service has no SAFETY_KERNEL_URL setting yet' };
  }
  return { available: true, kernel };
}

/**
 * The policy bundle of the suite: everything under `job.interop.*.allowed.>` is allowed, everything under
 * `job.interop.*.denied.>` is denied by rule `interop-deny`, and the default is deny.
 */
export const INTEROP_POLICY = `version: interop
default_decision: deny
default_reason: not part of the interop suite
rules:
  - id: interop-deny
    match: { topics: ["job.interop.*.denied.>"] }
    decision: deny
    reason: the interop suite denies this topic on purpose
  - id: interop-allow
    match: { topics: ["job.interop.>"] }
    decision: allow
`;

/** A Capstan stack whose scheduler asks a real safety kernel (loaded with {@link INTEROP_POLICY}). */
export interface PolicyStack {
  stack: CapstanStack;
  /** A fresh topic the policy denies. */
  deniedTopic(lang: string): string;
  /** A fresh topic the policy allows. */
  allowedTopic(lang: string): string;
  /** `host:port` of the kernel (gRPC, Connect and gRPC-Web on one plaintext port). */
  kernelAddress(): string;
  stop(): Promise<void>;
}

let counter = 0;

/** Starts a kernel (on the stack's NATS, Redis and database) and a scheduler service pointed at it. */
export async function startPolicyStack(name: string, kernel: SafetyKernelModule): Promise<PolicyStack> {
  const policyFile = join(interopPaths().cacheDir, `${name}-policy.yaml`);
  writeFileSync(policyFile, INTEROP_POLICY);
  let kernelUrl = '';
  const stack = await startCapstanStack({
    name,
    beforeScheduler: async (infra) => {
      const config = loadConfig(kernel.safetyKernelConfigSpec, {
        env: {
          SAFETY_KERNEL_PORT: '0',
          CAPSTAN_SAFETY_KERNEL_METRICS_PORT: '0',
          CAPSTAN_LISTEN_HOST: '127.0.0.1',
          CAPSTAN_NATS_URL: infra.natsUrl,
          CAPSTAN_REDIS_URL: infra.redisUrl,
          CAPSTAN_DATABASE_URL: infra.databaseUrl,
          CAPSTAN_POLICY_FILE: policyFile,
          CAPSTAN_LOG_LEVEL: 'info',
        },
        file: null,
      });
      const service = await kernel.startSafetyKernelService(config as never, {
        logger: pino(
          { level: 'info' },
          pino.destination({ dest: join(infra.logDir, `${name}-kernel.log`), sync: true }),
        ),
      });
      kernelUrl = service.url;
      return { env: { SAFETY_KERNEL_URL: service.url }, stop: () => service.stop() };
    },
  });
  const fresh = (kind: string, lang: string) => `job.interop.${lang.replace(/\W/g, '')}.${kind}.t${++counter}`;
  return {
    stack,
    deniedTopic: (lang) => fresh('denied', lang),
    allowedTopic: (lang) => fresh('allowed', lang),
    kernelAddress: () => new URL(kernelUrl).host,
    stop: () => stack.stop(),
  };
}
