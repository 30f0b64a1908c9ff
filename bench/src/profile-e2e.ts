// Quick driver: infra + scheduler process (+ --cpu-prof when PROF=1) + raw worker process; prints jobs/s.
import { fork } from 'node:child_process';
import { create, fromBinary } from '@bufbuild/protobuf';
import { createBus } from '@capstan/bus';
import { JobEventSchema } from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import { JobRequestSchema } from '@capstan/gen/cordum/agent/v1/job_pb';
import { Subjects } from '@capstan/protocol';
import { createDatabase, migrateToLatest } from '@capstan/store';
import { startNats, startPostgres, startRedis } from '@capstan/testkit';

const [nats, redis, pg] = await Promise.all([startNats(), startRedis(), startPostgres()]);
const store = await createDatabase({ url: pg.url });
await migrateToLatest(store.db);
await store.close();
const env = { ...process.env, NATS_URL: nats.url, REDIS_URL: redis.url, DATABASE_URL: pg.url };
const execArgv = ['--conditions=@capstan/source', '--import', 'tsx'];
const ready = (cp: ReturnType<typeof fork>) => new Promise((r) => cp.once('message', r));
const sched = fork(new URL('./procs/scheduler.ts', import.meta.url), {
  env,
  execArgv: process.env['PROF'] ? [...execArgv, '--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : execArgv,
});
await ready(sched);
const worker = fork(new URL('./procs/raw-worker.ts', import.meta.url), { env, execArgv });
await ready(worker);
await new Promise((r) => setTimeout(r, 300));
const bus = await createBus({ servers: nats.url, senderId: 'bench-client' });
const N = Number(process.env['N'] ?? 20000);
const C = Number(process.env['C'] ?? 500);
const start = new Map<string, number>();
const lat: number[] = [];
let done = 0;
bus.nc.subscribe('capstan.events.job.>', {
  callback: (_e, m) => {
    const ev = fromBinary(JobEventSchema, m.data);
    if (ev.job?.state === 'SUCCEEDED') {
      lat.push(performance.now() - start.get(ev.job.jobId)!);
      done++;
    }
  },
});
const t0 = performance.now();
let sent = 0;
while (sent < N) {
  while (sent - done < C && sent < N) {
    const id = `b${sent}`;
    start.set(id, performance.now());
    void bus.publishDurable(
      Subjects.jobSubmit,
      bus.packet({ case: 'jobRequest', value: create(JobRequestSchema, { jobId: id, topic: 'job.bench' }) }),
    );
    sent++;
  }
  await new Promise((r) => setImmediate(r));
}
while (done < N) await new Promise((r) => setTimeout(r, 10));
const secs = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
console.log(
  `capstan e2e: ${(N / secs).toFixed(0)} jobs/s  p50 ${lat[Math.floor(N / 2)]!.toFixed(1)} ms  p99 ${lat[Math.floor(N * 0.99)]!.toFixed(1)} ms`,
);
sched.send({ stop: true });
await new Promise((r) => sched.once('exit', r));
worker.kill();
await bus.close();
await Promise.all([nats.stop(), redis.stop(), pg.stop()]);
