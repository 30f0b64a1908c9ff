import { create, fromBinary, type MessageInitShape, toBinary } from '@bufbuild/protobuf';
import { type Bus, capstanStreams, createBus } from '@capstan/bus';
import {
  GetJobRequestSchema,
  GetJobResponseSchema,
  type JobEvent,
  JobEventKind,
  JobEventSchema,
  type JobSnapshotSchema,
} from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import { JobPriority } from '@capstan/gen/cordum/agent/v1/job_pb';
import { contextPointer, createPointerStore, type PointerStore, resultPointer } from '@capstan/pointers';
import { CapstanSubjects, decodePacket, jobEventsSubject, Streams, Subjects } from '@capstan/protocol';
import { type NatsHandle, startNats, testServices, uniqueName } from '@capstan/testkit';
import { jetstreamManager } from '@nats-io/jetstream';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, createClient } from './client.js';
import { createWorker } from './create-worker.js';
import {
  ClientArgumentError,
  ResultReadError,
  SubmitError,
  SubmitRefusedError,
  WaitForResultTimeoutError,
} from './errors.js';
import { startBridgeScheduler } from './testing/bridge-scheduler.js';
import { until } from './testing/fake-scheduler.js';

// A private nats-server: the client publishes into the fixed-name Capstan streams, which tests sharing the run's
// NATS must not see.
let nats: NatsHandle;
let bus: Bus;
let pointers: PointerStore;
let redis: Redis;
let client: Client;

beforeAll(async () => {
  nats = await startNats({ jetstream: true });
  bus = await createBus({ servers: nats.url, senderId: uniqueName('client') });
  await bus.ensureStreams();
  pointers = createPointerStore({ redis: testServices().redisUrl });
  redis = new Redis(testServices().redisUrl);
  client = createClient({ bus, pointers });
});

afterAll(async () => {
  await bus?.close();
  await pointers?.close();
  redis?.disconnect();
  await nats?.stop();
});

/** Publishes a JobEvent the way the scheduler does. */
function publishEvent(jobId: string, event: MessageInitShape<typeof JobEventSchema>, tenant = 'default') {
  bus.nc.publish(jobEventsSubject(tenant, jobId), toBinary(JobEventSchema, create(JobEventSchema, event)));
}

function transition(
  jobId: string,
  state: string,
  extra: MessageInitShape<typeof JobSnapshotSchema> = {},
): MessageInitShape<typeof JobEventSchema> {
  return { kind: JobEventKind.TRANSITION, job: { jobId, state, ...extra } };
}

/** Answers capstan.ctl.job.get like the scheduler would; returns the job ids asked about and a stop function. */
function answerJobGet(answer: (jobId: string) => MessageInitShape<typeof GetJobResponseSchema>) {
  const asked: string[] = [];
  const sub = bus.nc.subscribe(CapstanSubjects.ctlJobGet, {
    callback: (_err, msg) => {
      const request = fromBinary(GetJobRequestSchema, msg.data);
      asked.push(request.jobId);
      msg.respond(toBinary(GetJobResponseSchema, create(GetJobResponseSchema, answer(request.jobId))));
    },
  });
  return { asked, stop: () => sub.unsubscribe(), ready: bus.nc.flush() };
}

describe('client.submit', () => {
  it('stores the input at ctx:<job_id> and lands the JobRequest in the submit stream, deduped by job id', async () => {
    const jobId = uniqueName('job');
    const input = { prompt: 'summarise', items: [1, 'two', { three: 3 }] };
    const receipt = await client.submit({
      topic: 'job.echo',
      input,
      jobId,
      tenant: 'acme',
      priority: 'critical',
      labels: { team: 'ops' },
      idempotencyKey: 'order-7',
      meta: { actorId: 'alice', capability: 'echo' },
      budget: { deadlineMs: 60_000, maxTotalTokens: 1000 },
      workflowId: 'wf-1',
      stepIndex: 2,
      compensation: { topic: 'job.echo_undo' },
    });
    expect(receipt.jobId).toBe(jobId);
    expect(receipt.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(await redis.get(`ctx:${jobId}`)).toBe(JSON.stringify(input));

    const jsm = await jetstreamManager(bus.nc);
    const stored = await jsm.streams.getMessage(Streams.submit, { last_by_subj: Subjects.jobSubmit });
    expect(stored?.header?.get('Nats-Msg-Id')).toBe(jobId);
    const packet = decodePacket(stored?.data ?? new Uint8Array());
    expect(packet.traceId).toBe(receipt.traceId);
    expect(packet.senderId).toBe(bus.senderId);
    expect(packet.payload.case).toBe('jobRequest');
    const request = packet.payload.case === 'jobRequest' ? packet.payload.value : undefined;
    expect(request).toMatchObject({
      jobId,
      topic: 'job.echo',
      contextPtr: contextPointer(jobId),
      tenantId: 'acme',
      priority: JobPriority.CRITICAL,
      labels: { team: 'ops' },
      workflowId: 'wf-1',
      stepIndex: 2,
      meta: { tenantId: 'acme', idempotencyKey: 'order-7', actorId: 'alice', capability: 'echo' },
      budget: { deadlineMs: 60_000n, maxTotalTokens: 1000n },
      compensation: { topic: 'job.echo_undo' },
    });

    // Retrying a submit with the same job id does not add a second message.
    const before = (await jsm.streams.info(Streams.submit)).state.messages;
    await client.submit({ topic: 'job.echo', input, jobId });
    expect((await jsm.streams.info(Streams.submit)).state.messages).toBe(before);
  });

  it('sends no context_ptr and stores nothing when there is no input', async () => {
    const { jobId } = await client.submit({ topic: 'job.echo' });
    expect(jobId).toMatch(/^[0-9a-f-]{36}$/);
    const jsm = await jetstreamManager(bus.nc);
    const stored = await jsm.streams.getMessage(Streams.submit, { last_by_subj: Subjects.jobSubmit });
    const packet = decodePacket(stored?.data ?? new Uint8Array());
    expect(packet.payload.case === 'jobRequest' && packet.payload.value.contextPtr).toBe('');
    expect(await redis.exists(`ctx:${jobId}`)).toBe(0);
  });

  it('refuses bad arguments with errors that say what is expected', async () => {
    await expect(client.submit({ topic: 'echo' })).rejects.toThrow(ClientArgumentError);
    await expect(client.submit({ topic: 'echo' })).rejects.toThrow(
      /submit topic: invalid job topic "echo": expected a NATS subject starting with "job."/,
    );
    await expect(client.submit({ topic: 'job.echo', jobId: 'a.b' })).rejects.toThrow(
      /submit jobId: got "a.b"; expected one NATS subject token/,
    );
    await expect(client.submit({ topic: 'job.echo', priority: 'urgent' as 'batch' })).rejects.toThrow(
      /submit priority: got "urgent"/,
    );
    await expect(client.submit({ topic: 'job.echo', budget: { deadlineMs: -5 } })).rejects.toThrow(
      /submit budget.deadlineMs: got -5/,
    );
    expect(() => createClient({ bus, pointers: {} as PointerStore })).toThrow(
      /createClient pointers: expected a PointerStore/,
    );
  });

  it('fails with a SubmitError when no stream takes the submit', async () => {
    const bare = await startNats({ jetstream: false });
    const bareBus = await createBus({ servers: bare.url, senderId: uniqueName('bare') });
    try {
      const bareClient = createClient({ bus: bareBus, pointers });
      const error = await bareClient
        .submit({ topic: 'job.echo', jobId: uniqueName('job'), input: 1 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SubmitError);
      expect((error as Error).message).toMatch(/was not acknowledged by the sys.job.submit stream.*ensureStreams/);
    } finally {
      await bareBus.close();
      await bare.stop();
    }
  });
});

describe('client.submit at capacity', () => {
  it('throws SubmitRefusedError (RESOURCE_EXHAUSTED) when the submit backlog is full, and succeeds once it drained', async () => {
    // Its own server: the submit stream is bounded to two waiting submits (CAPSTAN_SUBMIT_BACKLOG_MAX=2).
    const own = await startNats({ jetstream: true });
    const ownBus = await createBus({ servers: own.url, senderId: uniqueName('full') });
    try {
      await ownBus.ensureStreams(capstanStreams({ submitBacklogMax: 2 }));
      const ownClient = createClient({ bus: ownBus, pointers });
      await ownClient.submit({ topic: 'job.echo', input: 1 });
      await ownClient.submit({ topic: 'job.echo', input: 2 });
      const refused = await ownClient.submit({ topic: 'job.echo', input: { n: 3 } }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(SubmitRefusedError);
      expect(refused).toBeInstanceOf(SubmitError); // callers that catch SubmitError still see it
      expect(refused).toMatchObject({ name: 'SubmitRefusedError', code: 'RESOURCE_EXHAUSTED' });
      expect((refused as Error).message).toMatch(/refused \(RESOURCE_EXHAUSTED\).*stream is full.*retry later/);
      expect((refused as Error).cause).toMatchObject({ code: 10077 });
      // Nothing was accepted under that new job id, so the input stored for it is gone again.
      expect(await redis.exists(`ctx:${(refused as SubmitRefusedError).jobId}`)).toBe(0);

      // A caller-chosen id may be a retry of a submit accepted long ago: its input stays.
      const jobId = uniqueName('job');
      const error = await ownClient.submit({ topic: 'job.echo', jobId, input: { n: 3 } }).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'SubmitRefusedError', jobId });
      expect(await redis.exists(`ctx:${jobId}`)).toBe(1);

      // A scheduler takes the waiting submits off the stream: the same job id is accepted on retry.
      const jsm = await jetstreamManager(ownBus.nc);
      await jsm.streams.purge(Streams.submit);
      await expect(ownClient.submit({ topic: 'job.echo', jobId, input: { n: 3 } })).resolves.toMatchObject({ jobId });
      expect((await jsm.streams.info(Streams.submit)).state.messages).toBe(1);
    } finally {
      await ownBus.close();
      await own.stop();
    }
  });

  it('keeps the plain SubmitError for a missing stream', async () => {
    const bare = await startNats({ jetstream: true });
    const bareBus = await createBus({ servers: bare.url, senderId: uniqueName('bare') });
    try {
      const error = await createClient({ bus: bareBus, pointers })
        .submit({ topic: 'job.echo', input: 1 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SubmitError);
      expect(error).not.toBeInstanceOf(SubmitRefusedError);
    } finally {
      await bareBus.close();
      await bare.stop();
    }
  });
});

describe('client.waitForResult', () => {
  it('resolves from job events, reads the output and reports every event', async () => {
    const jobId = uniqueName('job');
    await pointers.putJson(resultPointer(jobId), { answer: 42 });
    const events: JobEvent[] = [];
    const waiting = client.waitForResult(jobId, { timeoutMs: 5000, onEvent: (e) => events.push(e) });
    await new Promise((r) => setTimeout(r, 100)); // let the subscription settle; there is no ctl responder here
    publishEvent(jobId, transition(jobId, 'RUNNING'), 'acme');
    publishEvent(jobId, { kind: JobEventKind.PROGRESS, job: { jobId, state: 'RUNNING', progressPct: 50 } }, 'acme');
    publishEvent(jobId, transition(jobId, 'SUCCEEDED', { resultPtr: resultPointer(jobId), workerId: 'w1' }), 'acme');
    const result = await waiting;
    expect(result.jobId).toBe(jobId);
    expect(result.state).toBe('SUCCEEDED');
    expect(result.output).toEqual({ answer: 42 });
    expect(result.snapshot.workerId).toBe('w1');
    expect(events.map((e) => [JobEventKind[e.kind], e.job?.state])).toEqual([
      ['TRANSITION', 'RUNNING'],
      ['PROGRESS', 'RUNNING'],
      ['TRANSITION', 'SUCCEEDED'],
    ]);
  });

  it('follows a DUPLICATE event to the job that holds the idempotency key', async () => {
    const jobId = uniqueName('dup');
    const original = uniqueName('orig');
    await pointers.putJson(resultPointer(original), 'first result');
    const waiting = client.waitForResult(jobId, { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 100));
    publishEvent(jobId, { kind: JobEventKind.DUPLICATE, duplicateOf: original, job: { jobId } });
    await new Promise((r) => setTimeout(r, 100));
    publishEvent(original, transition(original, 'SUCCEEDED', { resultPtr: resultPointer(original) }));
    const result = await waiting;
    expect(result).toMatchObject({ jobId: original, state: 'SUCCEEDED', output: 'first result' });
  });

  it('asks capstan.ctl.job.get once subscribed, so a job that already finished resolves without events', async () => {
    const jobId = uniqueName('job');
    const responder = answerJobGet((id) => ({
      found: true,
      job: { jobId: id, state: 'FAILED', errorCode: '203', errorMessage: 'bad input', attempt: 3 },
    }));
    await responder.ready;
    try {
      const result = await client.waitForResult(jobId, { timeoutMs: 3000 });
      expect(result).toMatchObject({ jobId, state: 'FAILED', output: undefined });
      expect(result.snapshot).toMatchObject({ errorCode: '203', errorMessage: 'bad input', attempt: 3 });
      expect(responder.asked).toEqual([jobId]);
    } finally {
      responder.stop();
    }
  });

  it('keeps waiting for events when ctl.job.get does not know the job yet', async () => {
    const jobId = uniqueName('job');
    const responder = answerJobGet(() => ({ found: false }));
    await responder.ready;
    try {
      const waiting = client.waitForResult(jobId, { timeoutMs: 5000 });
      await until(() => responder.asked.includes(jobId));
      publishEvent(jobId, transition(jobId, 'CANCELLED', { errorMessage: 'user asked' }));
      const result = await waiting;
      expect(result.state).toBe('CANCELLED');
      expect(result.snapshot.errorMessage).toBe('user asked');
    } finally {
      responder.stop();
    }
  });

  it('resolves REJECTED when the scheduler refused the submit', async () => {
    const jobId = uniqueName('job');
    const waiting = client.waitForResult(jobId, { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 100));
    publishEvent(jobId, {
      kind: JobEventKind.REJECTED,
      job: { jobId, errorCode: '203', errorMessage: 'topic unknown' },
    });
    const result = await waiting;
    expect(result.state).toBe('REJECTED');
    expect(result.snapshot.errorMessage).toBe('topic unknown');
  });

  it("fails with a ResultReadError when a succeeded job's output is gone", async () => {
    const jobId = uniqueName('job');
    const waiting = client.waitForResult(jobId, { timeoutMs: 5000 }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    publishEvent(jobId, transition(jobId, 'SUCCEEDED', { resultPtr: resultPointer(jobId) }));
    const error = await waiting;
    expect(error).toBeInstanceOf(ResultReadError);
    expect(error).toMatchObject({ jobId, resultPtr: resultPointer(jobId) });
    expect((error as Error).message).toMatch(
      new RegExp(`job ${jobId} succeeded but its output at redis://res:${jobId} cannot be read`),
    );
  });

  it('times out with the last state it saw, and stops on an abort signal', async () => {
    const jobId = uniqueName('job');
    const waiting = client.waitForResult(jobId, { timeoutMs: 400 }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    publishEvent(jobId, transition(jobId, 'RUNNING'));
    const error = await waiting;
    expect(error).toBeInstanceOf(WaitForResultTimeoutError);
    expect(error).toMatchObject({ jobId, lastState: 'RUNNING' });
    expect((error as Error).message).toBe(`job ${jobId} was not finished after 400 ms (last state: RUNNING)`);

    const controller = new AbortController();
    const aborted = client.waitForResult(uniqueName('job'), { signal: controller.signal }).catch((e: unknown) => e);
    controller.abort(new Error('caller gave up'));
    expect(((await aborted) as Error).message).toBe('caller gave up');
    await expect(client.waitForResult('no.dots', {})).rejects.toThrow(ClientArgumentError);
    await expect(client.waitForResult(jobId, { timeoutMs: 0 })).rejects.toThrow(
      /timeoutMs: got 0; expected a positive integer/,
    );
  });
});

describe('client.submitAndWait when the caller gives up first', () => {
  it('submits nothing when the signal aborted before or while the subscription was set up', async () => {
    const submitted: string[] = [];
    const sub = bus.nc.subscribe(Subjects.jobSubmit, {
      callback: (_err, msg) => {
        const packet = decodePacket(msg.data);
        if (packet.payload.case === 'jobRequest') submitted.push(packet.payload.value.jobId);
      },
    });
    await bus.nc.flush();
    try {
      const early = uniqueName('job');
      const error = await client
        .submitAndWait(
          { topic: 'job.echo', jobId: early, input: 1 },
          { signal: AbortSignal.abort(new Error('gave up early')) },
        )
        .catch((e: unknown) => e);
      expect((error as Error).message).toBe('gave up early');

      // Aborted while `ready` is pending (the subscription's flush has not returned yet).
      const during = uniqueName('job');
      const controller = new AbortController();
      const waiting = client
        .submitAndWait({ topic: 'job.echo', jobId: during, input: 2 }, { signal: controller.signal })
        .catch((e: unknown) => e);
      controller.abort(new Error('gave up while subscribing'));
      expect(((await waiting) as Error).message).toBe('gave up while subscribing');

      await bus.nc.flush();
      await new Promise((r) => setTimeout(r, 100));
      expect(submitted.filter((id) => id === early || id === during)).toEqual([]);
      expect(await redis.exists(`ctx:${early}`, `ctx:${during}`)).toBe(0);
    } finally {
      sub.unsubscribe();
    }
  });
});

describe('client.cancel', () => {
  it('publishes a JobCancel on sys.job.cancel', async () => {
    const heard: { jobId: string; reason: string; requestedBy: string }[] = [];
    const sub = bus.subscribe(Subjects.jobCancel, {
      expect: ['jobCancel'],
      handler: (p) =>
        void heard.push({
          jobId: p.payload.value.jobId,
          reason: p.payload.value.reason,
          requestedBy: p.payload.value.requestedBy,
        }),
    });
    await bus.nc.flush();
    const jobId = uniqueName('job');
    await client.cancel(jobId, 'no longer needed', { requestedBy: 'alice' });
    await until(() => heard.length === 1);
    expect(heard[0]).toEqual({ jobId, reason: 'no longer needed', requestedBy: 'alice' });
    await sub.stop();
  });
});

describe('client.submitAndWait with a real worker', () => {
  it('round-trips a job through the submit stream, a worker and job events', async () => {
    const topic = `job.${uniqueName('e2e')}`;
    const stopBridge = await startBridgeScheduler(bus);
    const worker = await createWorker({
      servers: nats.url,
      pointers,
      topics: [topic],
      workerId: uniqueName('w'),
      handler: async (input, ctx) => {
        ctx.progress(10, 'thinking');
        return { upper: String((input as { text: string }).text).toUpperCase(), tenant: ctx.request.tenantId };
      },
    });
    try {
      const result = await client.submitAndWait<{ upper: string; tenant: string }>(
        { topic, input: { text: 'round trip' }, tenant: 'acme' },
        { timeoutMs: 10_000 },
      );
      expect(result.state).toBe('SUCCEEDED');
      expect(result.output).toEqual({ upper: 'ROUND TRIP', tenant: 'acme' });
      expect(result.snapshot.workerId).toBe(worker.id);
      expect(result.traceId).toMatch(/^[0-9a-f]{32}$/);
    } finally {
      await worker.shutdown({ timeoutMs: 0 });
      await stopBridge();
    }
  });
});
