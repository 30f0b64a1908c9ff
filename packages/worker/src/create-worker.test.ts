import { ComponentRole } from '@capstan/gen/cordum/agent/v1/handshake_pb';
import { JobStatus } from '@capstan/gen/cordum/agent/v1/job_pb';
import {
  artifactPointer,
  contextPointer,
  createPointerStore,
  type PointerStore,
  resultPointer,
} from '@capstan/pointers';
import { workerJobsSubject } from '@capstan/protocol';
import { testServices, uniqueName } from '@capstan/testkit';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JobCancelledError, JobDeadlineExceededError } from './abort-reasons.js';
import { createWorker, type Worker } from './create-worker.js';
import type { JobContext } from './job-context.js';
import { JobFailure } from './job-failure.js';
import { SDK_VERSION } from './sdk-version.js';
import { createFakeScheduler, type FakeScheduler, until } from './testing/fake-scheduler.js';
import type { WorkerOptions } from './worker-options.js';

let scheduler: FakeScheduler;
let pointers: PointerStore;
let redis: Redis;
const workers: Worker[] = [];

beforeAll(async () => {
  const { natsUrl, redisUrl } = testServices();
  scheduler = await createFakeScheduler(natsUrl);
  pointers = createPointerStore({ redis: redisUrl });
  redis = new Redis(redisUrl);
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.shutdown({ timeoutMs: 0 })));
});

afterAll(async () => {
  await scheduler?.close();
  await pointers?.close();
  redis?.disconnect();
});

/** A worker on a fresh topic, connected to the shared NATS; shut down after each test. */
async function startWorker(options: Partial<WorkerOptions> & Pick<WorkerOptions, 'handler'>) {
  const topic = `job.${uniqueName('t')}`;
  const worker = await createWorker({
    servers: testServices().natsUrl,
    pointers,
    topics: [topic],
    workerId: uniqueName('w'),
    ...options,
  });
  workers.push(worker);
  return { worker, topic };
}

/** A promise with its resolver, to hold handlers until the test lets them go. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

describe('createWorker against a fake scheduler', () => {
  it('runs a job from its topic, stores the result as JSON in Redis and echoes the lease header', async () => {
    let seen: { input: unknown; ctx: JobContext } | undefined;
    const { worker, topic } = await startWorker({
      handler: async (input, ctx) => {
        seen = { input, ctx };
        ctx.progress(50, 'half way');
        return { echoed: input, attempt: ctx.attempt, epoch: ctx.epoch };
      },
    });
    const jobId = uniqueName('job');
    await pointers.putJson(contextPointer(jobId), { text: 'héllo', n: [1, 2] });
    const traceId = 'a'.repeat(32);
    scheduler.dispatch(
      topic,
      { jobId, topic, contextPtr: contextPointer(jobId), meta: { idempotencyKey: 'pay-42' } },
      '3.7',
      traceId,
    );

    const result = await scheduler.result(jobId);
    expect(result.value.status).toBe(JobStatus.SUCCEEDED);
    expect(result.value.resultPtr).toBe(resultPointer(jobId));
    expect(result.value.workerId).toBe(worker.id);
    expect(result.value.errorCode).toBe('');
    expect(result.value.executionMs).toBeGreaterThanOrEqual(0n);
    expect(result.lease).toBe('3.7');
    expect(result.packet.senderId).toBe(worker.id);
    expect(result.packet.traceId).toBe(traceId);
    // A CAP SDK reads the result with a plain Redis GET: the value must be exactly the JSON.
    expect(await redis.get(`res:${jobId}`)).toBe(
      JSON.stringify({ echoed: { text: 'héllo', n: [1, 2] }, attempt: 3, epoch: 7 }),
    );

    expect(seen?.input).toEqual({ text: 'héllo', n: [1, 2] });
    expect(seen?.ctx.jobId).toBe(jobId);
    expect(seen?.ctx.idempotencyKey).toBe('pay-42');
    expect(seen?.ctx.traceId).toBe(traceId);
    expect(seen?.ctx.request.topic).toBe(topic);
    expect(seen?.ctx.signal.aborted).toBe(false);

    const progress = scheduler.progressOf(jobId);
    expect(progress.map((p) => [p.value.percent, p.value.message, p.value.status, p.lease])).toEqual([
      [0, 'accepted', JobStatus.RUNNING, '3.7'],
      [50, 'half way', JobStatus.RUNNING, '3.7'],
    ]);
    // The claim (RUNNING, sent on arrival of a topic delivery) comes before the result.
    expect(progress[0]?.at).toBeLessThanOrEqual(result.at);
    expect(worker.stats()).toMatchObject({ received: 1, succeeded: 1, running: 0, queued: 0 });
  });

  it('takes direct dispatches on worker.<id>.jobs; a job without context_ptr gets undefined input and a null result', async () => {
    let input: unknown = 'unset';
    let ctxSeen: JobContext | undefined;
    const { worker, topic } = await startWorker({
      handler: (value, ctx) => {
        input = value;
        ctxSeen = ctx;
      },
    });
    const jobId = uniqueName('job');
    scheduler.dispatch(workerJobsSubject(worker.id), { jobId, topic }, '1.4');
    const result = await scheduler.result(jobId);
    expect(result.value.status).toBe(JobStatus.SUCCEEDED);
    expect(result.lease).toBe('1.4');
    expect(input).toBeUndefined();
    expect(ctxSeen?.idempotencyKey).toBe(jobId);
    expect(await redis.get(`res:${jobId}`)).toBe('null');
  });

  it('reports a direct dispatch RUNNING only while its handler runs past 50 ms; quick handlers send no progress', async () => {
    const { worker, topic } = await startWorker({
      handler: async (input: { ms: number }) => {
        await new Promise((resolve) => setTimeout(resolve, input.ms));
        return input.ms;
      },
    });
    const quick = uniqueName('job');
    const slow = uniqueName('job');
    await redis.set(`ctx:${quick}`, JSON.stringify({ ms: 0 }));
    await redis.set(`ctx:${slow}`, JSON.stringify({ ms: 200 }));
    scheduler.dispatch(
      workerJobsSubject(worker.id),
      { jobId: quick, topic, contextPtr: `redis://ctx:${quick}` },
      '1.1',
    );
    scheduler.dispatch(workerJobsSubject(worker.id), { jobId: slow, topic, contextPtr: `redis://ctx:${slow}` }, '1.2');
    expect((await scheduler.result(quick)).value.status).toBe(JobStatus.SUCCEEDED);
    const slowResult = await scheduler.result(slow);
    expect(slowResult.value.status).toBe(JobStatus.SUCCEEDED);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // The quick job's RUNNING notice would have been a whole state write for nothing.
    expect(scheduler.progressOf(quick)).toHaveLength(0);
    const progress = scheduler.progressOf(slow);
    expect(progress.map((p) => [p.value.percent, p.value.message, p.value.status, p.lease])).toEqual([
      [0, 'started', JobStatus.RUNNING, '1.2'],
    ]);
    expect(progress[0]?.at).toBeLessThan(slowResult.at);
  });

  it('hands back a direct dispatch for a topic it does not serve with error_code 206', async () => {
    const { worker } = await startWorker({ handler: () => 'never' });
    const jobId = uniqueName('job');
    scheduler.dispatch(workerJobsSubject(worker.id), { jobId, topic: 'job.not_mine' }, '1.1');
    const result = await scheduler.result(jobId);
    expect(result.value.status).toBe(JobStatus.FAILED_RETRYABLE);
    expect(result.value.errorCode).toBe('206');
    expect(result.value.errorMessage).toMatch(/does not serve topic "job.not_mine"/);
  });

  it('announces itself with a handshake and sends heartbeats with its load, config and checkpoints', async () => {
    const release = gate();
    const { worker, topic } = await startWorker({
      heartbeatIntervalMs: 500,
      concurrency: 3,
      labels: { gpu: 'none', zone: 'a' },
      agentName: 'Echo agent',
      pool: 'echo-pool',
      handler: async (_input, ctx) => {
        ctx.checkpoint({ step: 2 }, 40);
        await release.opened;
        return 'ok';
      },
    });
    await until(() => scheduler.handshakesOf(worker.id).length === 1, 5000, 'handshake');
    const hs = scheduler.handshakesOf(worker.id)[0]?.value;
    expect(hs).toMatchObject({
      componentId: worker.id,
      role: ComponentRole.WORKER,
      supportedVersions: [1],
      capabilities: { direct_dispatch: true, cancel: true, progress: true, heartbeats: true, compensation: true },
      sdkVersion: SDK_VERSION,
      readyTopics: [topic],
    });

    const jobId = uniqueName('job');
    scheduler.dispatch(topic, { jobId, topic });
    await until(
      () => scheduler.heartbeatsOf(worker.id).some((h) => h.value.activeJobs === 1 && h.value.lastMemo !== ''),
      5000,
      'busy heartbeat',
    );
    release.open();
    await scheduler.result(jobId);
    const count = scheduler.heartbeatsOf(worker.id).length;
    await until(() => scheduler.heartbeatsOf(worker.id).length >= count + 2, 5000, 'two more heartbeats');

    const beats = scheduler.heartbeatsOf(worker.id);
    const busy = beats.find((h) => h.value.activeJobs === 1 && h.value.lastMemo !== '')?.value;
    expect(busy).toMatchObject({
      workerId: worker.id,
      type: 'capstan-ts',
      pool: 'echo-pool',
      maxParallelJobs: 3,
      capabilities: [topic],
      labels: { gpu: 'none', zone: 'a' },
      agentName: 'Echo agent',
      progressPct: 40,
      lastMemo: JSON.stringify({ step: 2 }),
    });
    const last = beats.at(-1)?.value;
    expect(last).toMatchObject({ activeJobs: 0, lastMemo: '', progressPct: 0 });
    for (const beat of beats) {
      expect(beat.value.cpuLoad).toBeGreaterThanOrEqual(0);
      expect(beat.value.cpuLoad).toBeLessThanOrEqual(100);
      expect(beat.value.memoryLoad).toBeGreaterThan(0);
      expect(beat.value.memoryLoad).toBeLessThanOrEqual(100);
      expect(beat.packet.senderId).toBe(worker.id);
    }
    // Periodic beats (the first one is sent at start, outside the timer) are ~500 ms apart.
    const gaps = beats.slice(1).map((b, i) => b.at - (beats[i] as { at: number }).at);
    const periodic = gaps.slice(1);
    expect(periodic.length).toBeGreaterThanOrEqual(2);
    for (const gap of periodic) {
      expect(gap).toBeGreaterThan(300);
      expect(gap).toBeLessThan(1200);
    }
  });

  it('repeats its handshake for scheduler replicas that start after it', async () => {
    const { worker } = await startWorker({ heartbeatIntervalMs: 500, handshakeRepeatMs: 1000, handler: async () => 1 });
    await until(() => scheduler.handshakesOf(worker.id).length >= 3, 6000, 'three handshakes');
    const hs = scheduler.handshakesOf(worker.id);
    expect(new Set(hs.map((h) => h.value.capabilities['direct_dispatch']))).toEqual(new Set([true]));
  });

  it('aborts the signal on a cancel from sys.job.cancel and reports CANCELLED', async () => {
    let reason: unknown;
    const started = gate();
    const { topic } = await startWorker({
      handler: async (_input, ctx) => {
        started.open();
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
        reason = ctx.signal.reason;
        throw new Error('stopped because of the abort');
      },
    });
    const jobId = uniqueName('job');
    scheduler.dispatch(topic, { jobId, topic }, '1.2');
    await started.opened;
    scheduler.cancel(jobId, 'user changed their mind');
    const result = await scheduler.result(jobId);
    expect(result.value.status).toBe(JobStatus.CANCELLED);
    expect(result.value.errorMessage).toMatch(/user changed their mind/);
    expect(result.lease).toBe('1.2');
    await until(() => reason !== undefined);
    expect(reason).toBeInstanceOf(JobCancelledError);
    expect((reason as JobCancelledError).requestedBy).toBe('fake-scheduler');
    // One result only: the handler's later error is not reported.
    await new Promise((r) => setTimeout(r, 100));
    expect(scheduler.resultsOf(jobId)).toHaveLength(1);
  });

  it('takes cancels on worker.<id>.jobs too', async () => {
    const started = gate();
    const { worker, topic } = await startWorker({
      handler: async (_input, ctx) => {
        started.open();
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
      },
    });
    const jobId = uniqueName('job');
    scheduler.dispatch(workerJobsSubject(worker.id), { jobId, topic });
    await started.opened;
    scheduler.cancel(jobId, 'direct cancel', workerJobsSubject(worker.id));
    expect((await scheduler.result(jobId)).value.status).toBe(JobStatus.CANCELLED);
  });

  it('answers CANCELLED without running the handler when the cancel arrives before the dispatch', async () => {
    const ran: string[] = [];
    const { worker, topic } = await startWorker({
      handler: (_input, ctx) => {
        ran.push(ctx.jobId);
        return 'ran';
      },
    });
    const jobId = uniqueName('job');
    // The cancel overtakes the dispatch: no worker holds the job yet.
    scheduler.cancel(jobId, 'client gave up');
    await scheduler.bus.nc.flush();
    await new Promise((r) => setTimeout(r, 100));
    scheduler.dispatch(topic, { jobId, topic }, '1.3');
    const result = await scheduler.result(jobId);
    expect(result.value).toMatchObject({ status: JobStatus.CANCELLED, errorCode: '', workerId: worker.id });
    expect(result.value.errorMessage).toMatch(/client gave up/);
    expect(result.lease).toBe('1.3');
    // A copy of the same delivery is still a duplicate; a re-dispatch (any epoch) is cancelled too.
    scheduler.dispatch(workerJobsSubject(worker.id), { jobId, topic }, '1.3');
    scheduler.dispatch(topic, { jobId, topic }, '2.4');
    const second = await scheduler.result(jobId, 10_000, 2);
    expect(second.value.status).toBe(JobStatus.CANCELLED);
    expect(second.lease).toBe('2.4');
    // Other jobs still run.
    const other = uniqueName('job');
    scheduler.dispatch(topic, { jobId: other, topic });
    expect((await scheduler.result(other)).value.status).toBe(JobStatus.SUCCEEDED);
    await new Promise((r) => setTimeout(r, 100));
    expect(ran).toEqual([other]);
    expect(scheduler.resultsOf(jobId)).toHaveLength(2);
    // Never claimed, never took a slot.
    expect(scheduler.progressOf(jobId)).toHaveLength(0);
    expect(worker.stats()).toMatchObject({
      received: 4,
      duplicates: 1,
      cancelled: 2,
      succeeded: 1,
      running: 0,
      queued: 0,
    });
  });

  it('reports TIMEOUT with error_code 200 when a relative deadline passes, and aborts the signal', async () => {
    let reason: unknown;
    const { topic } = await startWorker({
      handler: async (_input, ctx) => {
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
        reason = ctx.signal.reason;
      },
    });
    const jobId = uniqueName('job');
    const sentAt = Date.now();
    scheduler.dispatch(topic, { jobId, topic, budget: { deadlineMs: 300n } }, '2.2');
    const result = await scheduler.result(jobId);
    expect(result.value.status).toBe(JobStatus.TIMEOUT);
    expect(result.value.errorCode).toBe('200');
    expect(result.lease).toBe('2.2');
    expect(result.at - sentAt).toBeGreaterThanOrEqual(250);
    await until(() => reason !== undefined);
    expect(reason).toBeInstanceOf(JobDeadlineExceededError);
  });

  it('reports TIMEOUT at once, without running the handler, when an absolute deadline has already passed', async () => {
    let ran = false;
    const { topic } = await startWorker({
      handler: () => {
        ran = true;
      },
    });
    const jobId = uniqueName('job');
    scheduler.dispatch(topic, { jobId, topic, budget: { deadlineMs: BigInt(Date.now() - 1000) } });
    const result = await scheduler.result(jobId);
    expect(result.value.status).toBe(JobStatus.TIMEOUT);
    expect(result.value.errorCode).toBe('200');
    expect(ran).toBe(false);
    expect(scheduler.progressOf(jobId)).toHaveLength(0);
  });

  it('maps failures: JobFailure.fatal → FAILED_FATAL, JobFailure.retryable and plain errors → FAILED_RETRYABLE', async () => {
    const { topic } = await startWorker({
      handler: (input) => {
        const kind = (input as { kind: string }).kind;
        if (kind === 'fatal')
          throw JobFailure.fatal('card declined', { code: 'INVALID_INPUT', details: { card: '4242' } });
        if (kind === 'retryable') throw JobFailure.retryable('rate limited', { code: 1042 });
        throw new Error('socket hang up');
      },
    });
    const run = async (kind: string) => {
      const jobId = uniqueName('job');
      await pointers.putJson(contextPointer(jobId), { kind });
      scheduler.dispatch(topic, { jobId, topic, contextPtr: contextPointer(jobId) });
      return (await scheduler.result(jobId)).value;
    };
    expect(await run('fatal')).toMatchObject({
      status: JobStatus.FAILED_FATAL,
      errorCode: '203',
      errorMessage: 'card declined',
      resultPtr: '',
    });
    expect(await run('retryable')).toMatchObject({
      status: JobStatus.FAILED_RETRYABLE,
      errorCode: '1042',
      errorMessage: 'rate limited',
    });
    expect(await run('plain')).toMatchObject({
      status: JobStatus.FAILED_RETRYABLE,
      errorCode: '',
      errorMessage: 'socket hang up',
    });
  });

  it('fails fatally with 203 when the context pointer holds nothing', async () => {
    let ran = false;
    const { topic } = await startWorker({
      handler: () => {
        ran = true;
      },
    });
    const jobId = uniqueName('job');
    scheduler.dispatch(topic, { jobId, topic, contextPtr: contextPointer(jobId) });
    const result = await scheduler.result(jobId);
    expect(result.value).toMatchObject({ status: JobStatus.FAILED_FATAL, errorCode: '203' });
    expect(result.value.errorMessage).toMatch(new RegExp(`cannot read the job input at redis://ctx:${jobId}`));
    expect(ran).toBe(false);
  });

  it('stores artifacts and lists them in artifact_ptrs', async () => {
    const { topic } = await startWorker({
      handler: async (_input, ctx) => {
        const ptr = await ctx.writeArtifact('report.txt', 'all good', { contentType: 'text/plain' });
        await ctx.writeArtifact('data.bin', new Uint8Array([1, 2, 3]));
        await expect(ctx.writeArtifact('../escape', 'x')).rejects.toThrow(RangeError);
        return { ptr };
      },
    });
    const jobId = uniqueName('job');
    scheduler.dispatch(topic, { jobId, topic });
    const result = await scheduler.result(jobId);
    expect(result.value.status).toBe(JobStatus.SUCCEEDED);
    expect(result.value.artifactPtrs).toEqual([
      artifactPointer(`${jobId}:report.txt`),
      artifactPointer(`${jobId}:data.bin`),
    ]);
    expect(await redis.get(`art:${jobId}:report.txt`)).toBe('all good');
    expect((await pointers.get(artifactPointer(`${jobId}:report.txt`))).info.contentType).toBe('text/plain');
    expect(await pointers.getJson(resultPointer(jobId))).toEqual({ ptr: artifactPointer(`${jobId}:report.txt`) });
  });

  it('runs at most `concurrency` jobs, queues as many more, and hands back the overflow with 201', async () => {
    const release = gate();
    let running = 0;
    let maxRunning = 0;
    const { worker, topic } = await startWorker({
      concurrency: 2,
      handler: async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await release.opened;
        running--;
        return 'done';
      },
    });
    const jobIds = Array.from({ length: 5 }, () => uniqueName('job'));
    for (const jobId of jobIds) scheduler.dispatch(topic, { jobId, topic }, '1.1');
    const overflow = jobIds[4] as string;
    const handedBack = await scheduler.result(overflow);
    expect(handedBack.value).toMatchObject({
      status: JobStatus.FAILED_RETRYABLE,
      errorCode: '201',
      workerId: worker.id,
    });
    expect(handedBack.lease).toBe('1.1');
    await until(() => running === 2);
    expect(worker.stats()).toMatchObject({ running: 2, queued: 2, overCapacity: 1 });
    expect(worker.active()).toBe(4);
    // A queued topic delivery is claimed on arrival (so the scheduler knows who holds it) though not yet started.
    await until(() => scheduler.progressOf(jobIds[2] as string).length === 1);
    expect(scheduler.progressOf(jobIds[2] as string)[0]?.value.message).toBe('accepted');

    release.open();
    for (const jobId of jobIds.slice(0, 4))
      expect((await scheduler.result(jobId)).value.status).toBe(JobStatus.SUCCEEDED);
    expect(maxRunning).toBe(2);
    expect(scheduler.progressOf(jobIds[2] as string)[0]?.value.percent).toBe(0);
    expect(worker.stats()).toMatchObject({ running: 0, queued: 0, succeeded: 4 });
  });

  it('runs a duplicate delivery of the same (job, epoch) once, and a new epoch again', async () => {
    let runs = 0;
    const { worker, topic } = await startWorker({
      handler: async () => {
        runs++;
        await new Promise((r) => setTimeout(r, 50));
        return runs;
      },
    });
    const jobId = uniqueName('job');
    scheduler.dispatch(topic, { jobId, topic }, '1.5');
    scheduler.dispatch(workerJobsSubject(worker.id), { jobId, topic }, '1.5');
    await scheduler.result(jobId);
    // Redelivered after it finished: still dropped.
    scheduler.dispatch(topic, { jobId, topic }, '1.5');
    await new Promise((r) => setTimeout(r, 200));
    expect(runs).toBe(1);
    expect(scheduler.resultsOf(jobId)).toHaveLength(1);
    expect(worker.stats().duplicates).toBe(2);

    scheduler.dispatch(topic, { jobId, topic }, '2.6');
    const second = await scheduler.result(jobId, 10_000, 2);
    expect(second.lease).toBe('2.6');
    expect(runs).toBe(2);
  });

  it('works with dispatchers that send no lease header (attempt 1, epoch 0, nothing echoed)', async () => {
    let attempt = 0;
    let epoch = -1;
    const { topic } = await startWorker({
      handler: (_input, ctx) => {
        attempt = ctx.attempt;
        epoch = ctx.epoch;
      },
    });
    const jobId = uniqueName('job');
    scheduler.dispatch(topic, { jobId, topic }, null);
    const result = await scheduler.result(jobId);
    expect(result.value.status).toBe(JobStatus.SUCCEEDED);
    expect(result.lease).toBeUndefined();
    expect([attempt, epoch]).toEqual([1, 0]);
  });

  it('without a lease, drops a copy of a job it still holds but runs the retry after a failure', async () => {
    let runs = 0;
    const release = gate();
    const { worker, topic } = await startWorker({
      handler: async () => {
        runs++;
        if (runs === 1) {
          await release.opened;
          throw new Error('flaky dependency');
        }
        return 'second time lucky';
      },
    });
    const jobId = uniqueName('job');
    scheduler.dispatch(topic, { jobId, topic }, null);
    await until(() => runs === 1);
    // A copy of the delivery while the job runs here is a duplicate.
    scheduler.dispatch(workerJobsSubject(worker.id), { jobId, topic }, null);
    await until(() => worker.stats().duplicates === 1);
    release.open();
    expect((await scheduler.result(jobId)).value.status).toBe(JobStatus.FAILED_RETRYABLE);

    // The dispatcher retries with the same job id and no lease: a new delivery, not a duplicate.
    scheduler.dispatch(topic, { jobId, topic }, null);
    const retry = await scheduler.result(jobId, 10_000, 2);
    expect(retry.value.status).toBe(JobStatus.SUCCEEDED);
    expect(runs).toBe(2);
    expect(worker.stats().duplicates).toBe(1);
  });

  it('rejects a bad progress percent with a RangeError the handler sees', async () => {
    const { topic } = await startWorker({
      handler: (_input, ctx) => {
        ctx.progress(150);
      },
    });
    const jobId = uniqueName('job');
    scheduler.dispatch(topic, { jobId, topic });
    const result = await scheduler.result(jobId);
    expect(result.value.status).toBe(JobStatus.FAILED_RETRYABLE);
    expect(result.value.errorMessage).toBe('ctx.progress percent: got 150; expected a number from 0 to 100');
  });
});
