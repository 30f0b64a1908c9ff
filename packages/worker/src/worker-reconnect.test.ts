import { JobStatus } from '@capstan/gen/cordum/agent/v1/job_pb';
import { createPointerStore, type PointerStore } from '@capstan/pointers';
import { type NatsHandle, startNats, testServices, uniqueName } from '@capstan/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker } from './create-worker.js';
import { createFakeScheduler, type FakeScheduler, until } from './testing/fake-scheduler.js';

// A private nats-server: this test restarts it.
let nats: NatsHandle;
let pointers: PointerStore;
beforeAll(async () => {
  nats = await startNats({ jetstream: false });
  pointers = createPointerStore({ redis: testServices().redisUrl });
});
afterAll(async () => {
  await pointers?.close();
  await nats?.stop();
});

describe('worker across a NATS restart', () => {
  it('handshakes again after reconnecting and keeps taking jobs', async () => {
    const scheduler: FakeScheduler = await createFakeScheduler(nats.url);
    const topic = `job.${uniqueName('t')}`;
    const worker = await createWorker({
      servers: nats.url,
      pointers,
      topics: [topic],
      workerId: uniqueName('w'),
      heartbeatIntervalMs: 500,
      handler: (input) => ({ got: input ?? null }),
    });
    try {
      await until(() => scheduler.handshakesOf(worker.id).length === 1, 5000, 'first handshake');

      await nats.restart({ kill: true });
      // Both sides reconnect; the worker re-announces itself on its own.
      await until(() => scheduler.handshakesOf(worker.id).length >= 2, 15_000, 'handshake after reconnect');
      const again = scheduler.handshakesOf(worker.id).at(-1)?.value;
      expect(again?.componentId).toBe(worker.id);
      expect(again?.readyTopics).toEqual([topic]);

      // Its subscriptions survived: a job dispatched now runs.
      const jobId = uniqueName('job');
      await until(
        async () => {
          if (scheduler.resultsOf(jobId).length > 0) return true;
          scheduler.dispatch(topic, { jobId, topic });
          await scheduler.bus.nc.flush().catch(() => {});
          await new Promise((r) => setTimeout(r, 100));
          return scheduler.resultsOf(jobId).length > 0;
        },
        10_000,
        'job after reconnect',
      );
      expect(scheduler.resultsOf(jobId)[0]?.value.status).toBe(JobStatus.SUCCEEDED);
    } finally {
      await worker.shutdown({ timeoutMs: 0 });
      await scheduler.close();
    }
  });
});
