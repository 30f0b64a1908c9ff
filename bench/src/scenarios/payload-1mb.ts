import { createBullmqTarget } from '../lib/bullmq-target.js';
import { type ClosableTarget, createCapstanTarget } from '../lib/capstan-target.js';
import { sequential } from '../lib/load.js';
import { spawnProc, stopProc } from '../lib/processes.js';
import { settle, startKernel, startServers } from '../lib/stack.js';
import { round, summarize } from '../lib/stats.js';

/** Options of the payload-1mb scenario. */
export interface Payload1mbOptions {
  /** Jobs per payload size per system, one at a time. */
  jobs: number;
  log: (line: string) => void;
}

const KIB = 1024;
const MIB = 1024 * 1024;
/** A JSON object whose serialized form is exactly `bytes` long: `{"s":"xxx…"}`. */
const inputOf = (bytes: number) => ({ s: 'x'.repeat(bytes - 8) });

/** Latency of small and large inputs on one system, one job at a time, and what the large one adds. */
async function measure(
  target: ClosableTarget,
  name: string,
  opts: Payload1mbOptions,
  inputs: { small: unknown; large: unknown },
  use: (input: unknown) => void,
) {
  const phases: Record<string, ReturnType<typeof summarize>> = {};
  for (const [size, input] of Object.entries(inputs)) {
    target.usePrefix(`${name}-${size}-`);
    use(input); // one target serves both sizes
    phases[size] = summarize(await sequential(target, opts.jobs, Math.min(20, opts.jobs)));
  }
  const small = phases['small']!;
  const large = phases['large']!;
  const added = { p50: round(large.p50 - small.p50), p99: round(large.p99 - small.p99) };
  opts.log(
    `${name}: 1 KiB p50 ${small.p50} ms, 1 MiB p50 ${large.p50} ms → added p50 ${added.p50} ms, p99 ${added.p99} ms`,
  );
  return { oneKiBMs: small, oneMiBMs: large, addedMs: added };
}

/**
 * A 1 MiB input against a 1 KiB one, end to end (submit → result), one job at a time. Capstan: the client stores
 * the input at redis://ctx:<job_id> and only the pointer travels (submit, dispatch); the SDK worker reads and
 * parses it before calling the (no-op) handler; the kernel Checks the job as in e2e-noop. Peer: BullMQ with the
 * same objects as job data on the same Redis (the worker fetches the job's data with it).
 */
export async function payload1mb(opts: Payload1mbOptions) {
  const servers = await startServers();
  const env = { ...servers.env, TOPIC: 'job.bench', CONCURRENCY: '50' };
  const kernel = await startKernel(servers);
  const inputs = { small: inputOf(KIB), large: inputOf(MIB) };
  let current: unknown;
  const use = (input: unknown) => {
    current = input;
  };
  try {
    const scheduler = await spawnProc('scheduler.ts', { ...env, SAFETY_KERNEL_URL: kernel.url });
    const worker = await spawnProc('sdk-worker.ts', env);
    await settle();
    const capstanTarget = await createCapstanTarget(env, 'job.bench', () => current);
    let capstan: Awaited<ReturnType<typeof measure>>;
    try {
      capstan = await measure(capstanTarget, 'capstan', opts, inputs, use);
    } finally {
      await capstanTarget.close();
      await stopProc(worker);
      await stopProc(scheduler);
    }
    const bullWorker = await spawnProc('bullmq-worker.ts', {
      REDIS_URL: servers.redis.url,
      QUEUE: 'payload',
      CONCURRENCY: '50',
    });
    const bullTarget = await createBullmqTarget(servers.redis.url, 'payload', () => current);
    let bullmq: Awaited<ReturnType<typeof measure>>;
    try {
      bullmq = await measure(bullTarget, 'bullmq', opts, inputs, use);
    } finally {
      await bullTarget.close();
      await stopProc(bullWorker);
    }
    return {
      scenario: 'payload-1mb',
      peer: 'bullmq',
      params: { jobs: opts.jobs, smallBytes: KIB, largeBytes: MIB },
      capstan,
      bullmq,
      ratio: {
        addedP50: round(capstan.addedMs.p50 / bullmq.addedMs.p50, 2),
        oneMiBP50: round(capstan.oneMiBMs.p50 / bullmq.oneMiBMs.p50, 2),
      },
    };
  } finally {
    await kernel.stop();
    await servers.stop();
  }
}
