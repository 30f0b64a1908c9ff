import { freePort } from '@capstan/testkit';
import { type CapstanProcess, spawnCapstanProcess, waitForProcess } from './capstan-process.js';

/** Options of {@link startSchedulerProcess}. */
export interface SchedulerProcessOptions {
  /** Process and log name, e.g. `scheduler-a`. */
  name: string;
  /** Replica identity (CAPSTAN_SCHEDULER_ID); a restarted replica may reuse its predecessor's. */
  schedulerId: string;
  natsUrl: string;
  databaseUrl: string;
  runDir: string;
  /** Extra CAPSTAN_* settings (safety kernel URL, policy timeouts...). @default {} */
  env?: Record<string, string>;
}

/** A scheduler replica started from the deployable (`services/scheduler/src/main.ts`). */
export interface SchedulerProcess extends CapstanProcess {
  readonly schedulerId: string;
  /** Its `/metrics` base URL. */
  readonly metricsUrl: string;
  /** Reads one counter or gauge from `/metrics` (summed over its label sets); 0 when absent. */
  metric(name: string): Promise<number>;
}

/**
 * Starts one scheduler replica the way it is deployed — `node services/scheduler/src/main.ts` configured by env
 * (docs/deployment.md) — and waits until its `/healthz` says the bus and the database are up.
 */
export async function startSchedulerProcess(opts: SchedulerProcessOptions): Promise<SchedulerProcess> {
  const metricsPort = await freePort();
  const p = await spawnCapstanProcess({
    name: opts.name,
    entry: 'services/scheduler/src/main.ts',
    runDir: opts.runDir,
    env: {
      CAPSTAN_NATS_URL: opts.natsUrl,
      CAPSTAN_DATABASE_URL: opts.databaseUrl,
      CAPSTAN_SCHEDULER_ID: opts.schedulerId,
      CAPSTAN_SCHEDULER_METRICS_PORT: String(metricsPort),
      CAPSTAN_LISTEN_HOST: '127.0.0.1',
      CAPSTAN_LOG_LEVEL: process.env['FAULTS_LOG_LEVEL'] ?? 'info',
      ...opts.env,
    },
  });
  const metricsUrl = `http://127.0.0.1:${metricsPort}`;
  try {
    await waitForProcess(p, 'healthy /healthz', async () => (await fetch(`${metricsUrl}/healthz`)).ok, 30_000);
  } catch (err) {
    await p.kill();
    throw err;
  }
  return {
    ...p,
    schedulerId: opts.schedulerId,
    metricsUrl,
    async metric(name) {
      const text = await (await fetch(`${metricsUrl}/metrics`)).text();
      let sum = 0;
      for (const line of text.split('\n')) {
        if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.split(' ').at(-1));
      }
      return sum;
    },
  };
}
