import { JobStatus } from '@capstan/gen/cordum/agent/v1/job_pb';
import { createWorkerRegistry, isOverloaded } from '@capstan/jobs';
import { createPointerStore, type PointerStore } from '@capstan/pointers';
import { workerJobsSubject } from '@capstan/protocol';
import { testServices, uniqueName } from '@capstan/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerShutdownError } from './abort-reasons.js';
import { createWorker } from './create-worker.js';
import { createFakeScheduler, type FakeScheduler, until } from './testing/fake-scheduler.js';

let scheduler: FakeScheduler;
let pointers: PointerStore;

beforeAll(async () => {
  scheduler = await createFakeScheduler(testServices().natsUrl);
  pointers = createPointerStore({ redis: testServices().redisUrl });
});

afterAll(async () => {
  await scheduler?.close();
  await pointers?.close();
});

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

describe('worker shutdown', () => {
  it('finishes in-flight jobs within the timeout, hands back queued and overdue ones with 402, and says goodbye', async () => {
    const topic = `job.${uniqueName('t')}`;
    const reasons = new Map<string, unknown>();
    const worker = await createWorker({
      servers: testServices().natsUrl,
      pointers,
      topics: [topic],
      workerId: uniqueName('w'),
      concurrency: 2,
      heartbeatIntervalMs: 500,
      handler: async (input, ctx) => {
        const { ms } = input as { ms: number };
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, ms);
          ctx.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            reasons.set(ctx.jobId, ctx.signal.reason);
            resolve();
          });
        });
        return { slept: ms };
      },
    });
    const quick = uniqueName('quick');
    const slow = uniqueName('slow');
    const queued = uniqueName('queued');
    for (const [jobId, ms] of [
      [quick, 150],
      [slow, 10_000],
      [queued, 10],
    ] as const) {
      await pointers.putJson(`redis://ctx:${jobId}`, { ms });
      scheduler.dispatch(topic, { jobId, topic, contextPtr: `redis://ctx:${jobId}` }, '1.9');
    }
    await until(() => worker.stats().running === 2 && worker.stats().queued === 1);

    const shutdownStarted = Date.now();
    const done = worker.shutdown({ timeoutMs: 600 });
    expect(worker.shutdown()).toBe(done); // idempotent

    // The queued job is handed back at once.
    const queuedResult = await scheduler.result(queued);
    expect(queuedResult.value).toMatchObject({ status: JobStatus.FAILED_RETRYABLE, errorCode: '402' });
    expect(queuedResult.lease).toBe('1.9');
    expect(queuedResult.at - shutdownStarted).toBeLessThan(400);

    // A direct dispatch racing the drain is handed back, not lost.
    const late = uniqueName('late');
    scheduler.dispatch(workerJobsSubject(worker.id), { jobId: late, topic }, '1.1');
    expect((await scheduler.result(late)).value).toMatchObject({
      status: JobStatus.FAILED_RETRYABLE,
      errorCode: '402',
    });

    await done;
    const stoppedAt = Date.now();
    expect(stoppedAt - shutdownStarted).toBeGreaterThanOrEqual(550);
    expect(stoppedAt - shutdownStarted).toBeLessThan(3000);

    // The quick one finished normally within the timeout.
    expect((await scheduler.result(quick)).value.status).toBe(JobStatus.SUCCEEDED);
    // The slow one was aborted when the timeout passed and handed back.
    const slowResult = await scheduler.result(slow);
    expect(slowResult.value).toMatchObject({ status: JobStatus.FAILED_RETRYABLE, errorCode: '402' });
    expect(slowResult.lease).toBe('1.9');
    expect(reasons.get(slow)).toBeInstanceOf(WorkerShutdownError);
    expect(reasons.has(quick)).toBe(false);

    // A last heartbeat with no active jobs.
    await until(() => scheduler.heartbeatsOf(worker.id).at(-1)?.value.activeJobs === 0);
    const beats = scheduler.heartbeatsOf(worker.id).length;
    expect(worker.stats()).toMatchObject({ succeeded: 1, handedBack: 3, running: 0, queued: 0 });

    // Stopped for good: no heartbeats, no more jobs taken.
    const after = uniqueName('after');
    scheduler.dispatch(topic, { jobId: after, topic });
    await sleep(700);
    expect(scheduler.resultsOf(after)).toHaveLength(0);
    expect(scheduler.heartbeatsOf(worker.id)).toHaveLength(beats);
  });

  it('looks full and drops direct dispatch from the moment it drains, so schedulers route elsewhere', async () => {
    const topic = `job.${uniqueName('t')}`;
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const worker = await createWorker({
      servers: testServices().natsUrl,
      pointers,
      topics: [topic],
      workerId: uniqueName('w'),
      concurrency: 4,
      heartbeatIntervalMs: 500,
      handshakeRepeatMs: 600_000,
      handler: () => released,
    });
    const jobId = uniqueName('job');
    scheduler.dispatch(topic, { jobId, topic }, '1.1');
    await until(() => worker.stats().running === 1);
    await until(() => scheduler.heartbeatsOf(worker.id).at(-1)?.value.activeJobs === 1);
    expect(scheduler.handshakesOf(worker.id).at(-1)?.value.capabilities['direct_dispatch']).toBe(true);

    const shutdownStarted = Date.now();
    const done = worker.shutdown({ timeoutMs: 5000 });
    // At once, not at the next beat or handshake repeat.
    await until(() => scheduler.handshakesOf(worker.id).some((h) => h.at >= shutdownStarted), 250, 'drain handshake');
    await until(() => scheduler.heartbeatsOf(worker.id).some((h) => h.at >= shutdownStarted), 250, 'drain heartbeat');
    await sleep(1100); // and in every beat of the drain
    release();
    await done;

    const handshake = scheduler.handshakesOf(worker.id).find((h) => h.at >= shutdownStarted);
    expect(handshake?.value.capabilities['direct_dispatch']).toBe(false);
    expect(handshake?.value.readyTopics).toEqual([]);
    await until(() => scheduler.heartbeatsOf(worker.id).at(-1)?.value.activeJobs === 0);
    const drainBeats = scheduler
      .heartbeatsOf(worker.id)
      .filter((h) => h.at >= shutdownStarted)
      .slice(0, -1);
    expect(drainBeats.length).toBeGreaterThanOrEqual(3);
    // Full plus the job it still holds (a last beat may come after its result was acknowledged).
    expect(drainBeats[0]?.value).toMatchObject({ maxParallelJobs: 4, activeJobs: 5 });
    for (const beat of drainBeats) expect(beat.value.activeJobs).toBeGreaterThanOrEqual(4);

    // Read as the scheduler does: overloaded, even after it counted the job's result against the beat.
    const registry = createWorkerRegistry();
    registry.observeHandshake(handshake!.value, Date.now());
    registry.observeHeartbeat(drainBeats[0]!.value, Date.now());
    registry.release(worker.id);
    expect(registry.get(worker.id)).toMatchObject({ directDispatch: false, readyTopics: [] });
    expect(isOverloaded(registry.get(worker.id)!)).toBe(true);
  });

  it('shuts down quickly when nothing runs, and leaves a bus it was given open', async () => {
    const { createBus } = await import('@capstan/bus');
    const bus = await createBus({ servers: testServices().natsUrl, senderId: uniqueName('shared') });
    const worker = await createWorker({ bus, pointers, topics: [`job.${uniqueName('t')}`], handler: () => null });
    const started = Date.now();
    await worker.shutdown();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(bus.nc.isClosed()).toBe(false);
    await bus.close();
  });

  it('drains on SIGTERM when handleSignals is on, and removes its signal handlers', async () => {
    const topic = `job.${uniqueName('t')}`;
    const before = process.listenerCount('SIGTERM');
    const beforeInt = process.listenerCount('SIGINT');
    const worker = await createWorker({
      servers: testServices().natsUrl,
      pointers,
      topics: [topic],
      workerId: uniqueName('w'),
      handleSignals: true,
      shutdownTimeoutMs: 2000,
      handler: async () => {
        await sleep(200);
        return 'finished during drain';
      },
    });
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    expect(process.listenerCount('SIGINT')).toBe(beforeInt + 1);
    const jobId = uniqueName('job');
    scheduler.dispatch(topic, { jobId, topic });
    await until(() => worker.stats().running === 1);
    // Only our listener is called: emit() does not deliver a real signal to the process.
    process.emit('SIGTERM', 'SIGTERM');
    // The signal started the drain: shutdown() returns that same drain, which lets the running job finish.
    await worker.shutdown();
    expect((await scheduler.result(jobId)).value.status).toBe(JobStatus.SUCCEEDED);
    await until(() => scheduler.heartbeatsOf(worker.id).at(-1)?.value.activeJobs === 0);
    expect(process.listenerCount('SIGTERM')).toBe(before);
    expect(process.listenerCount('SIGINT')).toBe(beforeInt);
  });

  it('refuses a bad shutdown timeout', async () => {
    const worker = await createWorker({
      servers: testServices().natsUrl,
      pointers,
      topics: [`job.${uniqueName('t')}`],
      handler: () => null,
    });
    await expect(worker.shutdown({ timeoutMs: -1 })).rejects.toThrow(
      /invalid shutdown option timeoutMs: got -1; expected an integer/,
    );
    await worker.shutdown({ timeoutMs: 0 });
  });
});
