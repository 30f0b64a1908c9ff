/**
 * `node --conditions=@capstan/source --import tsx bench/src/diag/load-tail.ts [rate...]`: e2e-noop's pipeline
 * (kernel Check cached, scheduler, SDK worker) at fixed open-loop rates (default 150, 300 and 550 jobs/s, 8 s each),
 * stamping each job at the client: submit acknowledged, then each job event's arrival. Prints, per rate, the
 * latency percentiles of every stage and the moments the slowest jobs were submitted, so a tail can be told apart
 * from queueing (everything a bit slower) and pinned to one hop and one moment (a stall). A diagnostic, not a
 * benchmark (see docs/benchmarks.md).
 */
import { fromBinary } from '@bufbuild/protobuf';
import { createBus } from '@capstan/bus';
import { JobEventSchema } from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import { createPointerStore } from '@capstan/pointers';
import { jobEventsWildcard } from '@capstan/protocol';
import { createClient } from '@capstan/worker';
import { closedLoop } from '../lib/load.js';
import { logStalls } from '../lib/proc-ipc.js';
import { startNoopPipeline } from '../lib/stack.js';
import { percentile } from '../lib/stats.js';

const rates = process.argv.slice(2).map(Number);
if (rates.length === 0) rates.push(150, 300, 550);
const seconds = Number(process.env['SECONDS_PER_RATE'] ?? 8);
const STAGES = ['acked', 'PENDING', 'DISPATCHED', 'SUCCEEDED'] as const;

const { env, stop } = await startNoopPipeline();
if (process.env['BENCH_STALLS']) logStalls(Number(process.env['BENCH_STALLS']));
const bus = await createBus({ servers: env['NATS_URL']!, senderId: 'diag' });
const pointers = createPointerStore({ redis: env['REDIS_URL']! });
const client = createClient({ bus, pointers });
const stamps = new Map<string, Record<string, number>>();
let finished = 0;
bus.nc.subscribe(jobEventsWildcard(), {
  callback: (_e, m) => {
    const ev = fromBinary(JobEventSchema, m.data);
    const s = stamps.get(ev.job!.jobId);
    if (!s) return;
    s[ev.job!.state] ??= performance.now();
    if (ev.job!.state === 'SUCCEEDED') finished++;
  },
});

// Warm-up at full speed (JIT, connections, the statistics keeper's first ANALYZE).
let warmDone: ((i: number) => void) | undefined;
bus.nc.subscribe(jobEventsWildcard(), {
  callback: (_e, m) => {
    const ev = fromBinary(JobEventSchema, m.data);
    if (ev.job!.state === 'SUCCEEDED' && ev.job!.jobId.startsWith('w-')) warmDone?.(Number(ev.job!.jobId.slice(2)));
  },
});
await closedLoop(
  {
    submit: async (i) => {
      await client.submit({ topic: 'job.bench', jobId: `w-${i}`, input: { i } });
    },
    onDone: (cb) => {
      warmDone = cb;
    },
  },
  3000,
  500,
);

const ms = (v: number) => v.toFixed(1).padStart(6);
for (const rate of rates) {
  const n = Math.round(rate * seconds);
  const rows: Record<string, number>[] = [];
  finished = 0;
  const t0 = performance.now();
  const wall0 = Date.now();
  for (let k = 0; k < n; k++) {
    const due = t0 + (k * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const id = `r${rate}-${k}`;
    const s: Record<string, number> = { start: performance.now() };
    stamps.set(id, s);
    rows.push(s);
    void client.submit({ topic: 'job.bench', jobId: id, input: { k } }).then(() => {
      s['acked'] = performance.now();
    });
  }
  const end = performance.now() + 20_000;
  while (finished < n && performance.now() < end) await new Promise((r) => setTimeout(r, 20));
  const done = rows.filter((r) => r['SUCCEEDED'] !== undefined);
  console.log(`\n== ${rate} jobs/s offered, ${done.length}/${n} finished`);
  console.log('stage (from the previous one)      p50     p90     p99     max');
  let prev = 'start';
  for (const st of STAGES) {
    const v = done.map((r) => r[st]! - r[prev]!).sort((a, b) => a - b);
    console.log(
      `${`${prev} -> ${st}`.padEnd(30)} ${ms(percentile(v, 50))}  ${ms(percentile(v, 90))}  ${ms(percentile(v, 99))}  ${ms(v.at(-1)!)}`,
    );
    prev = st;
  }
  const total = done.map((r) => r['SUCCEEDED']! - r['start']!).sort((a, b) => a - b);
  const p50 = percentile(total, 50);
  console.log(
    `${'end to end'.padEnd(30)} ${ms(p50)}  ${ms(percentile(total, 90))}  ${ms(percentile(total, 99))}  ${ms(total.at(-1)!)}`,
  );
  // When the slow jobs were submitted (100 ms buckets) and which hop was slow for them.
  const slow = done.filter((r) => r['SUCCEEDED']! - r['start']! > Math.max(3 * p50, 20));
  const buckets = new Map<number, { n: number; worst: number; hop: Record<string, number> }>();
  for (const r of slow) {
    const b = Math.floor((r['start']! - t0) / 100);
    const e = buckets.get(b) ?? { n: 0, worst: 0, hop: {} };
    e.n++;
    e.worst = Math.max(e.worst, r['SUCCEEDED']! - r['start']!);
    let p = 'start';
    let hop = '';
    let longest = -1;
    for (const st of STAGES) {
      if (r[st]! - r[p]! > longest) {
        longest = r[st]! - r[p]!;
        hop = st;
      }
      p = st;
    }
    e.hop[hop] = (e.hop[hop] ?? 0) + 1;
    buckets.set(b, e);
  }
  console.log(`slow (> ${Math.max(3 * p50, 20).toFixed(0)} ms): ${slow.length} jobs in ${buckets.size} bursts`);
  for (const [b, e] of [...buckets].sort((x, y) => x[0] - y[0]))
    console.log(
      `  t=${(b / 10).toFixed(1)}s (${wall0 + b * 100}) ${String(e.n).padStart(4)} jobs, worst ${e.worst.toFixed(0)} ms, slowest hop ${JSON.stringify(e.hop)}`,
    );
}
await bus.close();
await pointers.close();
await stop();
