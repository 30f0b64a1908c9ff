/**
 * `node --conditions=@capstan/source --import tsx bench/src/diag/single-job-stages.ts`: e2e-noop's pipeline (kernel
 * Check cached, scheduler, SDK worker) with one job at a time, timing each job at the client: submit acknowledged
 * by JetStream, then the arrival of each of its job events (PENDING … SUCCEEDED). Medians over 300 jobs. Shows where
 * an unloaded job's end-to-end latency goes; a diagnostic, not a benchmark (see docs/benchmarks.md).
 */
import { fromBinary } from '@bufbuild/protobuf';
import { createBus } from '@capstan/bus';
import { JobEventSchema } from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import { createPointerStore } from '@capstan/pointers';
import { jobEventsWildcard } from '@capstan/protocol';
import { createClient } from '@capstan/worker';
import { startNoopPipeline } from '../lib/stack.js';

const { env, stop } = await startNoopPipeline();
const bus = await createBus({ servers: env['NATS_URL']!, senderId: 'diag' });
const pointers = createPointerStore({ redis: env['REDIS_URL']! });
const client = createClient({ bus, pointers });
const stamps = new Map<string, Record<string, number>>();
let waiter: (() => void) | undefined;
bus.nc.subscribe(jobEventsWildcard(), {
  callback: (_e, m) => {
    const ev = fromBinary(JobEventSchema, m.data);
    const id = ev.job!.jobId;
    const s = stamps.get(id);
    if (!s) return;
    s[ev.job!.state] ??= performance.now();
    if (ev.job!.state === 'SUCCEEDED') waiter?.();
  },
});
const rows: Record<string, number>[] = [];
for (let i = 0; i < 400; i++) {
  const id = `s-${i}`;
  const s: Record<string, number> = { start: performance.now() };
  stamps.set(id, s);
  const done = new Promise<void>((r) => {
    waiter = r;
  });
  await client.submit({ topic: 'job.bench', jobId: id, input: { i } });
  s['acked'] = performance.now();
  await done;
  if (i >= 100) rows.push(s);
  await new Promise((r) => setTimeout(r, 5));
}
const med = (k: string, from = 'start') => {
  const v = rows
    .map((r) => (r[k] ?? Number.NaN) - r[from]!)
    .filter((x) => !Number.isNaN(x))
    .sort((a, b) => a - b);
  return v.length ? `${v[v.length >> 1]!.toFixed(2)} ms (n=${v.length})` : '-';
};
console.log('submit acked', med('acked'));
for (const st of ['PENDING', 'SCHEDULED', 'DISPATCHED', 'RUNNING', 'SUCCEEDED']) console.log(st, med(st));
console.log('acked->DISPATCHED', med('DISPATCHED', 'acked'), 'DISPATCHED->SUCCEEDED', med('SUCCEEDED', 'DISPATCHED'));
await bus.close();
await pointers.close();
await stop();
