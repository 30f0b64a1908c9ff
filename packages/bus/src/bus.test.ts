import { generateKeyPairSync } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { SystemAlertSchema } from '@capstan/gen/cordum/agent/v1/alert_pb';
import type { BusPacket } from '@capstan/gen/cordum/agent/v1/buspacket_pb';
import { ComponentRole, HandshakeSchema } from '@capstan/gen/cordum/agent/v1/handshake_pb';
import { HeartbeatSchema } from '@capstan/gen/cordum/agent/v1/heartbeat_pb';
import {
  BudgetSchema,
  JobCancelSchema,
  JobMetadataSchema,
  JobProgressSchema,
  JobRequestSchema,
  JobResultSchema,
  JobStatus,
} from '@capstan/gen/cordum/agent/v1/job_pb';
import {
  createPacketSigner,
  createPacketVerifier,
  decodePacket,
  encodePacket,
  type PacketPayload,
} from '@capstan/protocol';
import { testServices, uniqueName } from '@capstan/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { type Bus, createBus } from './create-bus.js';
import { decodeDeadLetter } from './dead-letter.js';
import { PacketRejectedError } from './errors.js';

const open: Bus[] = [];
async function bus(senderId: string, extra: Partial<Parameters<typeof createBus>[0]> = {}): Promise<Bus> {
  const b = await createBus({ servers: testServices().natsUrl, senderId, ...extra });
  open.push(b);
  return b;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** One payload of every kind CAP defines. */
const payloads: PacketPayload[] = [
  {
    case: 'jobRequest',
    value: create(JobRequestSchema, {
      jobId: 'j-1',
      topic: 'job.echo',
      contextPtr: 'redis://ctx:j-1',
      env: { b: '2', a: '1' },
      budget: create(BudgetSchema, { deadlineMs: 1_900_000_000_000n }),
      meta: create(JobMetadataSchema, { tenantId: 't1', idempotencyKey: 'k', riskTags: ['net'], labels: { x: 'y' } }),
    }),
  },
  {
    case: 'jobResult',
    value: create(JobResultSchema, {
      jobId: 'j-1',
      status: JobStatus.FAILED_RETRYABLE,
      resultPtr: 'redis://res:j-1',
      executionMs: 12n,
      errorCode: '1001',
    }),
  },
  {
    case: 'heartbeat',
    value: create(HeartbeatSchema, {
      workerId: 'w-1',
      pool: 'echo',
      cpuLoad: 12.5,
      memoryLoad: 40,
      progressPct: 50,
      lastMemo: 'step 2',
      maxParallelJobs: 4,
    }),
  },
  {
    case: 'alert',
    value: create(SystemAlertSchema, { level: 'WARN', message: 'disk', component: 'w-1', code: '201' }),
  },
  {
    case: 'jobProgress',
    value: create(JobProgressSchema, { jobId: 'j-1', percent: 42, message: 'half', status: JobStatus.RUNNING }),
  },
  { case: 'jobCancel', value: create(JobCancelSchema, { jobId: 'j-1', reason: 'user', requestedBy: 'u-1' }) },
  {
    case: 'handshake',
    value: create(HandshakeSchema, {
      componentId: 'w-1',
      role: ComponentRole.WORKER,
      supportedVersions: [1],
      capabilities: { cancel: true },
      readyTopics: ['job.echo'],
    }),
  },
];

describe('bus over a real nats-server', () => {
  it('round-trips a BusPacket of every payload type', async () => {
    const a = await bus('sender-a');
    const b = await bus('receiver-b');
    const subject = uniqueName('rt');
    const got: BusPacket[] = [];
    const sub = b.subscribe(subject, { concurrency: 1, handler: (p) => void got.push(p) });
    await b.nc.flush();
    const sent = payloads.map((payload) => a.packet(payload));
    for (const p of sent) a.publish(subject, p);
    await until(() => got.length === sent.length);
    for (const [i, p] of got.entries()) {
      expect(p.payload.case).toBe(sent[i]!.payload.case);
      expect(p.payload.value).toEqual(sent[i]!.payload.value);
      expect(p.senderId).toBe('sender-a');
      expect(p.traceId).toBe(sent[i]!.traceId);
      expect(p.protocolVersion).toBe(1);
    }
    await sub.stop();
  });

  it('flush() sends what publish() queued before its PING: once it resolves, the server has routed it', async () => {
    const b = await bus('flusher');
    const subject = uniqueName('flushed');
    const got: string[] = [];
    // Same connection: the server writes the message back before the PONG that resolves the flush.
    b.nc.subscribe(subject, { callback: (_e, m) => void got.push(decodePacket(m.data).senderId) });
    await b.nc.flush();
    b.publish(subject, b.packet({ case: 'jobCancel', value: create(JobCancelSchema, { jobId: 'x' }) }));
    await b.flush();
    expect(got).toEqual(['flusher']);
  });

  it('load-balances a queue group: every packet to exactly one member', async () => {
    const pub = await bus('pub');
    const subject = uniqueName('q');
    const seen: Record<string, string[]> = { m1: [], m2: [] };
    const members = await Promise.all(['m1', 'm2'].map((m) => bus(m)));
    for (const [i, m] of members.entries()) {
      const name = i === 0 ? 'm1' : 'm2';
      m.subscribe(subject, {
        queue: subject,
        expect: ['jobRequest'],
        handler: (p) => void seen[name]!.push(p.payload.value.jobId),
      });
      await m.nc.flush();
    }
    const n = 200;
    for (let i = 0; i < n; i++)
      pub.publish(
        subject,
        pub.packet({ case: 'jobRequest', value: create(JobRequestSchema, { jobId: `j${i}`, topic: 'job.echo' }) }),
      );
    await until(() => seen.m1!.length + seen.m2!.length === n);
    expect(seen.m1!.length).toBeGreaterThan(20);
    expect(seen.m2!.length).toBeGreaterThan(20);
    expect(new Set([...seen.m1!, ...seen.m2!]).size).toBe(n);
  });

  it('request/reply with packets', async () => {
    const server = await bus('server');
    const client = await bus('client');
    const subject = uniqueName('rr');
    server.subscribe(subject, {
      expect: ['jobRequest'],
      handler: (p, ctx) => {
        server.respond(
          ctx.reply!,
          server.packet(
            {
              case: 'jobResult',
              value: create(JobResultSchema, { jobId: p.payload.value.jobId, status: JobStatus.SUCCEEDED }),
            },
            { traceId: p.traceId },
          ),
        );
      },
    });
    await server.nc.flush();
    const req = client.packet({
      case: 'jobRequest',
      value: create(JobRequestSchema, { jobId: 'rr-1', topic: 'job.echo' }),
    });
    const reply = await client.request(subject, req);
    expect(reply.payload.case).toBe('jobResult');
    expect(reply.traceId).toBe(req.traceId);
    expect(reply.senderId).toBe('server');
  });

  it('dead-letters garbage and malformed packets and keeps serving the next one', async () => {
    const consumer = await bus('consumer');
    const producer = await bus('producer');
    const subject = uniqueName('poison');
    const handled: string[] = [];
    consumer.subscribe(subject, {
      expect: ['jobRequest'],
      concurrency: 1,
      name: 'test-consumer',
      handler: (p) => void handled.push(p.payload.value.jobId),
    });
    const letters: ReturnType<typeof decodeDeadLetter>[] = [];
    const dlq = producer.nc.subscribe(`capstan.dlq.${subject}`, {
      callback: (_e, m) => void letters.push(decodeDeadLetter(m.data)),
    });
    await Promise.all([consumer.nc.flush(), producer.nc.flush()]);

    producer.nc.publish(subject, new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0xff, 0xff]));
    producer.publish(
      subject,
      producer.packet({ case: 'jobRequest', value: create(JobRequestSchema, { topic: 'job.echo' }) }),
    ); // no job_id
    producer.publish(
      subject,
      producer.packet({ case: 'heartbeat', value: create(HeartbeatSchema, { workerId: 'w' }) }),
    ); // wrong kind
    producer.publish(
      subject,
      producer.packet({ case: 'jobRequest', value: create(JobRequestSchema, { jobId: 'good', topic: 'job.echo' }) }),
    );

    await until(() => handled.length === 1 && letters.length === 3);
    expect(handled).toEqual(['good']);
    expect(letters.map((l) => l.code).sort()).toEqual(['101', '101', '102']);
    const garbage = letters.find((l) => l.original.length === 6)!;
    expect(Buffer.from(garbage.original).toString('hex')).toBe('deadbeefffff');
    expect(garbage.consumer).toBe('test-consumer');
    expect(garbage.subject).toBe(subject);
    const missing = letters.find((l) => l.reason.includes('job_id'))!;
    expect(missing.senderId).toBe('producer');
    expect(consumer.stats()).toMatchObject({ received: 4, rejected: 3, deadLettered: 3 });
    dlq.unsubscribe();
  });

  it('dead-letters what a handler refuses, and survives a handler that throws', async () => {
    const consumer = await bus('consumer2');
    const subject = uniqueName('refuse');
    const handled: string[] = [];
    const letters: string[] = [];
    consumer.nc.subscribe(`capstan.dlq.${subject}`, {
      callback: (_e, m) => void letters.push(decodeDeadLetter(m.data).code),
    });
    consumer.subscribe(subject, {
      expect: ['jobResult'],
      concurrency: 1,
      handler: (p) => {
        if (p.payload.value.jobId === 'unknown') throw new PacketRejectedError('NOT_FOUND', 'no such job');
        if (p.payload.value.jobId === 'boom') throw new Error('bug');
        handled.push(p.payload.value.jobId);
      },
    });
    await consumer.nc.flush();
    for (const id of ['unknown', 'boom', 'ok']) {
      consumer.publish(
        subject,
        consumer.packet({
          case: 'jobResult',
          value: create(JobResultSchema, { jobId: id, status: JobStatus.SUCCEEDED }),
        }),
      );
    }
    await until(() => handled.length === 1 && letters.length === 2);
    expect(letters.sort()).toEqual(['204', 'HANDLER_FAILED']);
    expect(consumer.stats().handlerErrors).toBe(1);
  });

  it('JetStream: an unacked packet is redelivered to the durable consumer after a restart', async () => {
    const stream = uniqueName('S');
    const subject = uniqueName('durable');
    const first = await createBus({ servers: testServices().natsUrl, senderId: 'sched-1' });
    await first.ensureStreams([{ name: stream, subjects: [subject] }]);
    const gotFirst = deferred<string>();
    await first.consume({
      stream,
      durable: 'sched',
      expect: ['jobRequest'],
      ackWaitMs: 1000,
      handler: (p) => {
        gotFirst.resolve(p.payload.value.jobId);
        return new Promise(() => {}); // never acks: the process "dies" mid-job
      },
    });
    const ack = await first.publishDurable(
      subject,
      first.packet({ case: 'jobRequest', value: create(JobRequestSchema, { jobId: 'durable-1', topic: 'job.echo' }) }),
    );
    expect(ack.stream).toBe(stream);
    expect(await gotFirst.promise).toBe('durable-1');
    first.nc.close(); // crash: no drain, no ack

    const second = await bus('sched-2');
    const gotSecond = deferred<{ id: string; delivery: number }>();
    await second.consume({
      stream,
      durable: 'sched',
      expect: ['jobRequest'],
      ackWaitMs: 1000,
      handler: (p, ctx) => gotSecond.resolve({ id: p.payload.value.jobId, delivery: ctx.deliveryCount }),
    });
    expect(await gotSecond.promise).toEqual({ id: 'durable-1', delivery: 2 });
  });

  /** A bus with a fresh stream on a fresh subject, the reasons of that subject's dead letters, and one packet to send. */
  async function withStream(name: string) {
    const stream = uniqueName('S');
    const subject = uniqueName(name);
    const b = await bus(name);
    await b.ensureStreams([{ name: stream, subjects: [subject] }]);
    const letters: string[] = [];
    b.nc.subscribe(`capstan.dlq.${subject}`, {
      callback: (_e, m) => void letters.push(decodeDeadLetter(m.data).reason),
    });
    const publishOne = () =>
      b.publishDurable(subject, b.packet({ case: 'jobCancel', value: create(JobCancelSchema, { jobId: 'x' }) }));
    return { b, stream, letters, publishOne };
  }

  it('JetStream: a failing handler is retried with backoff, then dead-lettered', async () => {
    const { b, stream, letters, publishOne } = await withStream('retrier');
    const deliveries: number[] = [];
    await b.consume({
      stream,
      durable: 'r',
      maxDeliver: 3,
      retryDelayMs: 50,
      handler: (_p, ctx) => {
        deliveries.push(ctx.deliveryCount);
        throw new Error('database down');
      },
    });
    await publishOne();
    await until(() => letters.length === 1, 10_000);
    expect(deliveries).toEqual([1, 2, 3]);
    expect(letters[0]).toMatch(/gave up after 3 failed deliveries: database down/);
  });

  it('JetStream: transient failures (an outage) are retried past maxDeliver and never dead-lettered', async () => {
    const { b, stream, letters, publishOne } = await withStream('transient');
    const deliveries: number[] = [];
    const done = deferred<number>();
    await b.consume({
      stream,
      durable: 't',
      maxDeliver: 2,
      retryDelayMs: 20,
      isTransient: (err) => (err as Error).message === 'database down',
      handler: (_p, ctx) => {
        deliveries.push(ctx.deliveryCount);
        // Down for 5 deliveries (more than maxDeliver), then back.
        if (ctx.deliveryCount <= 5) throw new Error('database down');
        done.resolve(ctx.deliveryCount);
      },
    });
    await publishOne();
    expect(await done.promise).toBe(6);
    expect(deliveries).toEqual([1, 2, 3, 4, 5, 6]);
    expect(letters).toEqual([]);
  });

  it('JetStream: after an outage, a real failure still gets maxDeliver tries (outage redeliveries do not count)', async () => {
    const { b, stream, letters, publishOne } = await withStream('afterOutage');
    const done = deferred<number>();
    await b.consume({
      stream,
      durable: 't',
      maxDeliver: 2,
      retryDelayMs: 20,
      isTransient: (err) => (err as Error).message === 'database down',
      handler: (_p, ctx) => {
        // Down for 4 deliveries, then one real failure (a deadlock, say), then fine.
        if (ctx.deliveryCount <= 4) throw new Error('database down');
        if (ctx.deliveryCount === 5) throw new Error('deadlock detected');
        done.resolve(ctx.deliveryCount);
      },
    });
    await publishOne();
    expect(await done.promise).toBe(6);
    expect(letters).toEqual([]);
  });

  it('JetStream: consumerPosition reports the stream end and the ack floor of a durable consumer', async () => {
    const stream = uniqueName('S');
    const subject = uniqueName('pos');
    const b = await bus('pos');
    await b.ensureStreams([{ name: stream, subjects: [subject] }]);
    const release = deferred<void>();
    let handled = 0;
    await b.consume({
      stream,
      durable: 'p',
      concurrency: 1,
      handler: async () => {
        handled++;
        if (handled === 2) await release.promise;
      },
    });
    for (let i = 0; i < 3; i++)
      await b.publishDurable(
        subject,
        b.packet({ case: 'jobCancel', value: create(JobCancelSchema, { jobId: `p${i}` }) }),
      );
    await until(() => handled === 2);
    const held = await b.consumerPosition(stream, 'p');
    expect(held).toEqual({ lastSeq: 3, ackFloor: 1 });
    release.resolve();
    await until(async () => (await b.consumerPosition(stream, 'p')).ackFloor === 3);
    await expect(b.consumerPosition(stream, 'missing')).rejects.toThrow();
  });

  it('JetStream: a handler running longer than the ack wait keeps its packet (no redelivery)', async () => {
    const stream = uniqueName('S');
    const subject = uniqueName('slow');
    const b = await bus('slow');
    await b.ensureStreams([{ name: stream, subjects: [subject] }]);
    const deliveries: number[] = [];
    const done = deferred<void>();
    await b.consume({
      stream,
      durable: 's',
      ackWaitMs: 600,
      handler: async (_p, ctx) => {
        deliveries.push(ctx.deliveryCount);
        await new Promise((r) => setTimeout(r, 2000));
        done.resolve();
      },
    });
    await b.publishDurable(subject, b.packet({ case: 'jobCancel', value: create(JobCancelSchema, { jobId: 'y' }) }));
    await done.promise;
    await new Promise((r) => setTimeout(r, 800));
    expect(deliveries).toEqual([1]);
  });

  it('JetStream: garbage on a durable subject is dead-lettered and acked, the next packet flows', async () => {
    const stream = uniqueName('S');
    const subject = uniqueName('jsgarbage');
    const b = await bus('js-consumer');
    await b.ensureStreams([{ name: stream, subjects: [subject] }]);
    const handled: string[] = [];
    await b.consume({
      stream,
      durable: 'g',
      expect: ['jobRequest'],
      handler: (p) => void handled.push(p.payload.value.jobId),
    });
    await b.js.publish(subject, new Uint8Array([1, 2, 3, 4, 5]));
    await b.publishDurable(
      subject,
      b.packet({ case: 'jobRequest', value: create(JobRequestSchema, { jobId: 'after-garbage', topic: 'job.echo' }) }),
    );
    await until(() => handled.length === 1);
    expect(handled).toEqual(['after-garbage']);
    expect(b.stats().deadLettered).toBe(1);
    // The garbage was acked: nothing is left pending on the consumer.
    await until(() => b.stats().received === 2);
  });

  describe('signatures', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });

    it('JetStream: a signed packet that waited in the stream past the replay window is handled, not dead-lettered', async () => {
      // A scheduler outage (or a backlog) longer than the replay window used to turn every waiting submit into a
      // SIGNATURE_INVALID dead letter, acknowledged and gone.
      const stream = uniqueName('S');
      const subject = uniqueName('waited');
      const signer = await bus('trusted', {
        signer: createPacketSigner({ senderId: 'trusted', privateKey: ec.privateKey }),
      });
      await signer.ensureStreams([{ name: stream, subjects: [subject] }]);
      await signer.publishDurable(
        subject,
        signer.packet({ case: 'jobRequest', value: create(JobRequestSchema, { jobId: 'waited', topic: 'job.echo' }) }),
      );
      await new Promise((r) => setTimeout(r, 1500)); // no consumer yet: longer than the 1 s window below
      const verifier = createPacketVerifier({
        keys: new Map([['trusted', ec.publicKey]]),
        requireSignatures: true,
        replayWindowMs: 1000,
      });
      const consumer = await bus('verifier', { verifier });
      const letters: string[] = [];
      consumer.nc.subscribe(`capstan.dlq.${subject}`, {
        callback: (_e, m) => void letters.push(decodeDeadLetter(m.data).reason),
      });
      const handled = deferred<string>();
      await consumer.consume({
        stream,
        durable: 'c',
        expect: ['jobRequest'],
        handler: (p) => handled.resolve(p.payload.value.jobId),
      });
      expect(await handled.promise).toBe('waited');
      expect(letters).toEqual([]);
    });

    it('accepts signed packets and rejects unsigned, tampered and replayed ones when signatures are required', async () => {
      const subject = uniqueName('signed');
      const verifier = createPacketVerifier({ keys: new Map([['trusted', ec.publicKey]]), requireSignatures: true });
      const consumer = await bus('verifier', { verifier });
      const signer = await bus('trusted', {
        signer: createPacketSigner({ senderId: 'trusted', privateKey: ec.privateKey }),
      });
      const unsigned = await bus('trusted'); // same identity, no key
      const handled: string[] = [];
      const letters: string[] = [];
      consumer.nc.subscribe(`capstan.dlq.${subject}`, {
        callback: (_e, m) => void letters.push(decodeDeadLetter(m.data).code),
      });
      consumer.subscribe(subject, {
        expect: ['jobRequest'],
        concurrency: 1,
        handler: (p) => void handled.push(p.payload.value.jobId),
      });
      await consumer.nc.flush();

      const signed = signer.packet({
        case: 'jobRequest',
        value: create(JobRequestSchema, { jobId: 'signed', topic: 'job.echo' }),
      });
      signer.publish(subject, signed); // bus signs on publish
      await until(() => handled.length === 1);

      unsigned.publish(
        subject,
        unsigned.packet({
          case: 'jobRequest',
          value: create(JobRequestSchema, { jobId: 'unsigned', topic: 'job.echo' }),
        }),
      );
      // Replay: the exact same signed bytes again.
      unsigned.nc.publish(subject, encodePacket(signed));
      // Tamper: change the topic after signing.
      const tampered = signer.packet({
        case: 'jobRequest',
        value: create(JobRequestSchema, { jobId: 'tampered', topic: 'job.echo' }),
      });
      createPacketSigner({ senderId: 'trusted', privateKey: ec.privateKey }).sign(tampered);
      tampered.payload.value.topic = 'job.evil';
      unsigned.nc.publish(subject, encodePacket(tampered));

      await until(() => letters.length === 3);
      expect(handled).toEqual(['signed']);
      expect(letters.sort()).toEqual(['103', '103', '104']);
    });
  });
});
