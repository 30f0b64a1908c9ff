import { freePort } from '@capstan/testkit';
import {
  type E2eFigures,
  type E2ePhaseOptions,
  ownCpuSeconds,
  ratioTo,
  runBullmqPhases,
  runE2ePhases,
} from '../lib/e2e-phases.js';
import { createApiKey, createRestTarget } from '../lib/gateway-client.js';
import { cpuSeconds, spawnProc, stopProc } from '../lib/processes.js';
import { settle, startKernel, startServers } from '../lib/stack.js';

/** Options of the e2e-rest scenario. */
export interface E2eRestOptions extends E2ePhaseOptions {
  /** Worker concurrency (both systems). */
  concurrency: number;
  /** Keep-alive HTTP connections from the client to the gateway. */
  connections: number;
  log: (line: string) => void;
}

/**
 * e2e-noop through the REST API: `POST /v1/jobs` on the gateway (API key, Redis rate limit, input stored at
 * redis://ctx, JetStream-acked submit, audit row) → scheduler (kernel Check, client decision cache on) → SDK
 * worker → result, seen by the client as the SUCCEEDED `job_event` on a WebSocket joined to `jobs:*`. Every
 * component in its own process. Peer: BullMQ exactly as in e2e-noop, measured again in this run.
 */
export async function e2eRest(opts: E2eRestOptions) {
  const servers = await startServers();
  const { nats, redis, pg } = servers;
  const env = { ...servers.env, TOPIC: 'job.bench', CONCURRENCY: String(opts.concurrency) };
  const kernel = await startKernel(servers);
  try {
    opts.log('capstan: starting scheduler, worker and gateway processes');
    const scheduler = await spawnProc('scheduler.ts', { ...env, SAFETY_KERNEL_URL: kernel.url });
    const worker = await spawnProc('sdk-worker.ts', env);
    const port = await freePort();
    const gateway = await spawnProc('gateway.ts', { ...env, CAPSTAN_GATEWAY_PORT: String(port) });
    const base = `http://127.0.0.1:${port}`;
    let capstan: E2eFigures;
    try {
      const apiKey = await createApiKey(base);
      await settle();
      const target = await createRestTarget({
        base,
        apiKey,
        topic: 'job.bench',
        input: (i) => ({ i }),
        connections: opts.connections,
      });
      try {
        capstan = await runE2ePhases(
          target,
          'capstan',
          opts,
          () => ({
            gateway: cpuSeconds(gateway.pid!),
            scheduler: cpuSeconds(scheduler.pid!),
            worker: cpuSeconds(worker.pid!),
            kernel: cpuSeconds(kernel.proc.pid!),
            client: ownCpuSeconds(),
            nats: cpuSeconds(nats.pid),
            redis: cpuSeconds(redis.pid),
            postgres: cpuSeconds(pg.pid, true),
          }),
          opts.log,
        );
      } finally {
        await target.close();
      }
    } finally {
      await stopProc(gateway);
      await stopProc(worker);
      await stopProc(scheduler);
    }
    await kernel.stop();

    const bullmq = await runBullmqPhases(redis, opts.concurrency, opts, opts.log);
    const ratio = ratioTo(capstan, bullmq);
    opts.log(`ratio to BullMQ: jobs/s ${ratio.jobsPerSec}×, p99 at half load ${ratio.p99AtHalfLoad}×`);
    return {
      scenario: 'e2e-rest',
      peer: 'bullmq',
      params: {
        jobs: opts.jobs,
        window: opts.window,
        warmup: opts.warmup,
        latencySeconds: opts.latencySeconds,
        concurrency: opts.concurrency,
        httpConnections: opts.connections,
      },
      capstan,
      bullmq,
      ratio,
      goals: { jobsPerSecAtLeastPeer: capstan.jobsPerSec >= bullmq.jobsPerSec },
    };
  } finally {
    await kernel.stop();
    await servers.stop();
  }
}
