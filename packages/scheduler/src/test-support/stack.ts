import { create, fromBinary } from '@bufbuild/protobuf';
import { type Bus, createBus } from '@capstan/bus';
import { type JobEvent, JobEventSchema } from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import { type JobRequest, JobRequestSchema } from '@capstan/gen/cordum/agent/v1/job_pb';
import { jobEventsAnyTenant, Subjects } from '@capstan/protocol';
import { createDatabase, migrateToLatest, type StoreDatabase } from '@capstan/store';
import { createTestDatabase, type NatsHandle, startNats, testServices, uniqueName } from '@capstan/testkit';
import { Redis } from 'ioredis';
import { afterEach, beforeEach } from 'vitest';
import { createScheduler, type Scheduler, type SchedulerOptions } from '../create-scheduler.js';
import { startRawCapWorker } from './raw-cap-worker.js';

/**
 * A real stack for scheduler tests: a private nats-server (JetStream; the scheduler uses fixed CAP subjects),
 * a fresh Postgres database on the shared server, the shared Redis.
 */
export async function startStack() {
  const nats: NatsHandle = await startNats({ jetstream: true });
  const { redisUrl, databaseUrl } = testServices();
  const testDb = await createTestDatabase(databaseUrl, 'sched');
  const store: StoreDatabase = await createDatabase({ url: testDb.url, poolSize: 6 });
  await migrateToLatest(store.db);
  const redis = new Redis(redisUrl);
  const buses: Bus[] = [];
  const schedulers: Scheduler[] = [];
  const workers: Awaited<ReturnType<typeof startRawCapWorker>>[] = [];
  const client = await createBus({ servers: nats.url, senderId: 'test-client' });
  buses.push(client);

  const stack = {
    nats,
    redis,
    client,
    db: store.db,
    async scheduler(opts: Partial<SchedulerOptions> = {}, name = uniqueName('sched')) {
      const bus = await createBus({ servers: nats.url, senderId: name });
      buses.push(bus);
      // Timings given by a test are merged into the fast test timings, not put in their place.
      const { timings, ...rest } = opts;
      const s = await createScheduler({
        ...(process.env['SCHED_LOG']
          ? { logger: (await import('pino')).pino({ level: process.env['SCHED_LOG'] }) }
          : {}),
        bus,
        db: store.db,
        ...rest,
        timings: {
          sweepIntervalMs: 50,
          reconcileIntervalMs: 200,
          overdueGraceMs: 300,
          retryBackoff: { baseMs: 50, maxMs: 200 },
          ...timings,
        },
      });
      schedulers.push(s);
      return s;
    },
    async worker(
      topic: string,
      o: {
        workerId?: string;
        heartbeatMs?: number;
        maxParallel?: number;
        pool?: string;
        confirmCancels?: { errorMessage: string };
      } = {},
    ) {
      const w = await startRawCapWorker({
        natsUrl: nats.url,
        redisUrl,
        topic,
        workerId: o.workerId ?? uniqueName('w'),
        ...o,
      });
      workers.push(w);
      return w;
    },
    /** Submits like a CAP client: input at redis ctx:<id>, JobRequest on sys.job.submit. */
    async submit(
      topic: string,
      input: unknown,
      req: Partial<Parameters<typeof create<typeof JobRequestSchema>>[1]> = {},
    ): Promise<JobRequest> {
      const jobId = (req as { jobId?: string }).jobId ?? uniqueName('job');
      await redis.set(`ctx:${jobId}`, JSON.stringify(input));
      const request = create(JobRequestSchema, { jobId, topic, contextPtr: `redis://ctx:${jobId}`, ...req });
      await client.publishDurable(Subjects.jobSubmit, client.packet({ case: 'jobRequest', value: request }));
      return request;
    },
    /** Collects every event of a job. */
    events(jobId: string) {
      const list: JobEvent[] = [];
      const sub = client.nc.subscribe(jobEventsAnyTenant(jobId), {
        callback: (_e, m) => void list.push(fromBinary(JobEventSchema, m.data)),
      });
      return {
        list,
        states: () => list.filter((e) => e.kind === 1).map((e) => e.job?.state),
        stop: () => sub.unsubscribe(),
      };
    },
    /** Waits until the job's row satisfies `pred`. */
    async waitFor(jobId: string, pred: (state: string, row: Record<string, unknown>) => boolean, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs;
      let last: Record<string, unknown> | undefined;
      while (Date.now() < end) {
        last = (await store.db.selectFrom('jobs').selectAll().where('job_id', '=', jobId).executeTakeFirst()) as
          | Record<string, unknown>
          | undefined;
        if (last && pred(last['state'] as string, last)) return last;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(
        `job ${jobId} did not reach the expected state in ${timeoutMs} ms; last row: ${JSON.stringify(last && { state: last['state'], attempt: last['attempt'], wait_reason: last['wait_reason'], error: last['error_message'] })}`,
      );
    },
    terminal: (jobId: string, timeoutMs?: number) =>
      stack.waitFor(jobId, (s) => ['SUCCEEDED', 'FAILED', 'CANCELLED', 'DENIED', 'TIMEOUT'].includes(s), timeoutMs),
    async eventsOf(jobId: string) {
      return store.db.selectFrom('job_events').selectAll().where('job_id', '=', jobId).orderBy('seq').execute();
    },
    async dlqOf(jobId: string) {
      return store.db.selectFrom('job_dlq').selectAll().where('job_id', '=', jobId).executeTakeFirst();
    },
    decode: (bytes: Uint8Array) => fromBinary(JobRequestSchema, bytes),
    async stop() {
      await Promise.all(workers.map((w) => w.stop().catch(() => {})));
      await Promise.all(schedulers.map((s) => s.stop().catch(() => {})));
      await Promise.all(buses.map((b) => b.close().catch(() => {})));
      redis.disconnect();
      await store.close();
      await testDb.drop().catch(() => {});
      await nats.stop();
    },
  };
  return stack;
}

/** The stack type. */
export type Stack = Awaited<ReturnType<typeof startStack>>;

/**
 * A fresh stack for every test of the calling file (started before each, stopped after each); returns the current
 * one, like `useFaultStack` does for the fault suite.
 */
export function useStack(): () => Stack {
  let stack: Stack | undefined;
  beforeEach(async () => {
    stack = await startStack();
  });
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });
  return () => {
    if (!stack) throw new Error('useStack: the stack exists only inside the tests of its file');
    return stack;
  };
}
