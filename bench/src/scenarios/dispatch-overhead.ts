import { connect } from '@nats-io/transport-node';
import { createCapstanTarget } from '../lib/capstan-target.js';
import { askProc, spawnProc, stopProc } from '../lib/processes.js';
import { monotonicMicros } from '../lib/receive-stamps.js';
import { settle, startKernel, startServers } from '../lib/stack.js';
import { round, summarizeMicros } from '../lib/stats.js';

/** Options of the dispatch-overhead scenario. */
export interface DispatchOverheadOptions {
  /** Jobs per variant, one at a time (light load). */
  jobs: number;
  /** Raw NATS request/reply round trips, one at a time. */
  roundTrips: number;
  /** Capstan variants to run; `kernel` (the headline) is always run. @default all three */
  variants?: readonly (keyof typeof VARIANTS)[];
  log: (line: string) => void;
}

const VARIANTS = {
  kernel: { SAFETY_KERNEL_URL: true, POLICY_CACHE_TTL_MS: '10000' },
  'kernel-no-cache': { SAFETY_KERNEL_URL: true, POLICY_CACHE_TTL_MS: '0' },
  'allow-all': { SAFETY_KERNEL_URL: false, POLICY_CACHE_TTL_MS: '0' },
} as const;

/** Goal of the issue: the scheduler adds at most this much (p50) over a raw NATS request/reply round trip. */
const GOAL_DELTA_P50_US = 300;

/**
 * What the scheduler adds between receiving a job and the worker receiving it, at light load (one job at a
 * time). Timestamps come from the processes themselves on the machine-wide monotonic clock: the scheduler's
 * handler entry for the `sys.job.submit` packet and the SDK worker's handler entry for the dispatched request
 * (both after the bus decoded them). The peer, measured in the same run: a raw NATS request/reply round trip
 * between the runner and a responder process, with a payload the size of a dispatch. Also reported: the legs
 * before (client submit → scheduler receive: input to Redis + JetStream) and after (worker receive → client sees
 * SUCCEEDED: input read, result write, result commit, job event).
 */
export async function dispatchOverhead(opts: DispatchOverheadOptions) {
  const servers = await startServers();
  const env = { ...servers.env, TOPIC: 'job.bench', CONCURRENCY: '50' };
  const kernel = await startKernel(servers);
  try {
    // ---------- the floor: raw NATS request/reply ----------
    const responder = await spawnProc('nats-responder.ts', { NATS_URL: servers.nats.url, SUBJECT: 'bench.echo' });
    const nc = await connect({ servers: servers.nats.url });
    const payload = new Uint8Array(256); // about a dispatched JobRequest packet without input (it is a pointer)
    const rtt: number[] = [];
    const warmup = Math.min(500, opts.roundTrips);
    for (let n = 0; n < warmup + opts.roundTrips; n++) {
      const t0 = process.hrtime.bigint();
      await nc.request('bench.echo', payload, { timeout: 2000 });
      if (n >= warmup) rtt.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    await nc.close();
    await stopProc(responder);
    const floor = summarizeMicros(rtt);
    opts.log(`raw NATS request/reply: p50 ${floor.p50} µs, p99 ${floor.p99} µs`);

    // ---------- Capstan ----------
    const variants: Record<string, Record<string, unknown>> = {};
    const wanted = new Set<string>(['kernel', ...(opts.variants ?? Object.keys(VARIANTS))]);
    for (const [name, v] of Object.entries(VARIANTS)) {
      if (!wanted.has(name)) continue;
      const scheduler = await spawnProc('scheduler.ts', {
        ...env,
        ...(v.SAFETY_KERNEL_URL ? { SAFETY_KERNEL_URL: kernel.url } : {}),
        POLICY_CACHE_TTL_MS: v.POLICY_CACHE_TTL_MS,
      });
      const worker = await spawnProc('sdk-worker.ts', env);
      await settle();
      const target = await createCapstanTarget(env, 'job.bench', (i) => ({ i }));
      try {
        const submitted: Record<string, number> = {};
        const finished: Record<string, number> = {};
        let expecting = -1;
        let wake: ((at: number) => void) | undefined;
        target.onDone((i) => {
          if (i === expecting) wake?.(monotonicMicros());
        });
        // One job at a time: submit, wait for its SUCCEEDED event, next.
        const run = async (prefix: string, n: number) => {
          target.usePrefix(prefix);
          for (let i = 0; i < n; i++) {
            expecting = i;
            let timer: NodeJS.Timeout | undefined;
            const done = new Promise<number>((resolve, reject) => {
              wake = resolve;
              timer = setTimeout(() => reject(new Error(`job ${prefix}${i} did not finish within 10 s`)), 10_000);
            });
            submitted[`${prefix}${i}`] = monotonicMicros();
            await target.submit(i);
            finished[`${prefix}${i}`] = await done;
            clearTimeout(timer);
          }
        };
        await run(`${name}-w-`, Math.min(100, opts.jobs)); // warm-up (JIT, connections, decision cache)
        await askProc(scheduler, 'stamps');
        await askProc(worker, 'stamps');
        const prefix = `${name}-m-`;
        await run(prefix, opts.jobs);
        const atScheduler = await askProc<Record<string, number>>(scheduler, 'stamps');
        const atWorker = await askProc<Record<string, number>>(worker, 'stamps');
        const legs = {
          submitToScheduler: [] as number[],
          schedulerToWorker: [] as number[],
          workerToDone: [] as number[],
        };
        for (let i = 0; i < opts.jobs; i++) {
          const id = `${prefix}${i}`;
          const s = atScheduler[id];
          const w = atWorker[id];
          if (s === undefined || w === undefined) continue;
          legs.submitToScheduler.push(s - submitted[id]!);
          legs.schedulerToWorker.push(w - s);
          legs.workerToDone.push(finished[id]! - w);
        }
        const dispatch = summarizeMicros(legs.schedulerToWorker);
        const deltaP50 = round(dispatch.p50 - floor.p50, 0);
        opts.log(
          `capstan/${name}: scheduler receive → worker receive p50 ${dispatch.p50} µs, p99 ${dispatch.p99} µs; ` +
            `Δp50 over the NATS round trip ${deltaP50} µs (goal ≤ ${GOAL_DELTA_P50_US})`,
        );
        variants[name] = {
          jobs: legs.schedulerToWorker.length,
          schedulerToWorkerUs: dispatch,
          deltaP50OverRoundTripUs: deltaP50,
          ratioP50ToRoundTrip: round(dispatch.p50 / floor.p50, 2),
          submitToSchedulerUs: summarizeMicros(legs.submitToScheduler),
          workerToClientDoneUs: summarizeMicros(legs.workerToDone),
          goalMet: deltaP50 <= GOAL_DELTA_P50_US,
        };
      } finally {
        await target.close();
        await stopProc(worker);
        await stopProc(scheduler);
      }
    }
    const headline = variants['kernel'] as { schedulerToWorkerUs: { p50: number }; deltaP50OverRoundTripUs: number };
    return {
      scenario: 'dispatch-overhead',
      peer: 'nats-request-reply',
      params: { jobs: opts.jobs, roundTrips: opts.roundTrips, payloadBytes: payload.length },
      natsRoundTripUs: floor,
      capstan: variants['kernel'],
      capstanVariants: variants,
      ratio: { p50: round(headline.schedulerToWorkerUs.p50 / floor.p50, 2) },
      goals: { deltaP50AtMost300Us: headline.deltaP50OverRoundTripUs <= GOAL_DELTA_P50_US },
    };
  } finally {
    await kernel.stop();
    await servers.stop();
  }
}
