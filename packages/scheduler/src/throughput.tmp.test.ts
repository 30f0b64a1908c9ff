import { create, fromBinary } from '@bufbuild/protobuf';
import { JobEventSchema } from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import { JobRequestSchema } from '@capstan/gen/cordum/agent/v1/job_pb';
import { Subjects } from '@capstan/protocol';
import { it } from 'vitest';
import { startStack } from './test-support/stack.js';

it('throughput probe', async () => {
  const stack = await startStack();
  await stack.scheduler({ maxConcurrentFlushes: 4 });
  const tp = 'job.bench';
  await stack.worker(tp, { maxParallel: 1000 });
  await stack.worker(tp, { maxParallel: 1000 });
  const N = 5000;
  const done = new Map<string, number>();
  const start = new Map<string, number>();
  stack.client.nc.subscribe('capstan.events.job.>', {
    callback: (_e, m) => {
      const ev = fromBinary(JobEventSchema, m.data);
      if (ev.job?.state === 'SUCCEEDED') done.set(ev.job.jobId, performance.now());
    },
  });
  const t0 = performance.now();
  const inflight = new Set<Promise<unknown>>();
  for (let i = 0; i < N; i++) {
    const id = `b${i}-${Date.now()}`;
    start.set(id, performance.now());
    const p = stack.client.publishDurable(
      Subjects.jobSubmit,
      stack.client.packet({ case: 'jobRequest', value: create(JobRequestSchema, { jobId: id, topic: tp }) }),
    );
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    if (inflight.size >= 200) await Promise.race(inflight);
  }
  while (done.size < N) await new Promise((r) => setTimeout(r, 20));
  const secs = (performance.now() - t0) / 1000;
  const lat = [...done.entries()].map(([id, t]) => t - start.get(id)!).sort((a, b) => a - b);
  console.log(
    `jobs/s ${(N / secs).toFixed(0)} p50 ${lat[Math.floor(N * 0.5)]!.toFixed(1)}ms p99 ${lat[Math.floor(N * 0.99)]!.toFixed(1)}ms`,
  );
  await stack.stop();
}, 120_000);
