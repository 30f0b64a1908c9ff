import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type CapstanProcess, spawnCapstanProcess, waitForProcess } from './capstan-process.js';

/** The fault suite's policy bundle: fault jobs are allowed, everything else denied (docs/safety-kernel.md). */
export const FAULT_POLICY_BUNDLE = `version: faults-1
default_decision: deny
default_reason: not covered by the fault-suite bundle
rules:
  - id: allow-faults
    match: { topics: ["job.faults.>"] }
    decision: allow
`;

/** Options of {@link startSafetyKernelProcess}. */
export interface SafetyKernelProcessOptions {
  name: string;
  /** The port; a restarted kernel comes back on the same one. */
  port: number;
  natsUrl: string;
  redisUrl: string;
  databaseUrl: string;
  runDir: string;
}

/**
 * Starts the safety kernel the way it is deployed — `node services/safety-kernel/src/main.ts` configured by env —
 * with {@link FAULT_POLICY_BUNDLE}, and waits until its gRPC health service answers SERVING.
 */
export async function startSafetyKernelProcess(opts: SafetyKernelProcessOptions): Promise<CapstanProcess> {
  const policyFile = join(opts.runDir, 'policy.yaml');
  await writeFile(policyFile, FAULT_POLICY_BUNDLE);
  const p = await spawnCapstanProcess({
    name: opts.name,
    entry: 'services/safety-kernel/src/main.ts',
    runDir: opts.runDir,
    env: {
      CAPSTAN_NATS_URL: opts.natsUrl,
      CAPSTAN_REDIS_URL: opts.redisUrl,
      CAPSTAN_DATABASE_URL: opts.databaseUrl,
      CAPSTAN_SAFETY_KERNEL_PORT: String(opts.port),
      CAPSTAN_SAFETY_KERNEL_METRICS_PORT: '0',
      CAPSTAN_LISTEN_HOST: '127.0.0.1',
      CAPSTAN_POLICY_FILE: policyFile,
      CAPSTAN_LOG_LEVEL: process.env['FAULTS_LOG_LEVEL'] ?? 'info',
    },
  });
  // grpc.health.v1.Health/Check over the Connect protocol (plain HTTP/1.1 + JSON), one of the kernel's protocols.
  const healthy = async () => {
    const res = await fetch(`http://127.0.0.1:${opts.port}/grpc.health.v1.Health/Check`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    return res.ok && ((await res.json()) as { status?: string }).status === 'SERVING';
  };
  try {
    await waitForProcess(p, 'SERVING health check', healthy, 30_000);
  } catch (err) {
    await p.kill();
    throw err;
  }
  return p;
}
