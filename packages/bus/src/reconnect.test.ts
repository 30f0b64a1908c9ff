import { create } from '@bufbuild/protobuf';
import { JobRequestSchema } from '@capstan/gen/cordum/agent/v1/job_pb';
import { Streams, Subjects } from '@capstan/protocol';
import { type NatsHandle, startNats } from '@capstan/testkit';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from './create-bus.js';

async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

// A private nats-server: these tests restart it and create the fixed-name Capstan streams.
let nats: NatsHandle;
beforeAll(async () => {
  nats = await startNats({ jetstream: true });
});
afterAll(async () => {
  await nats?.stop();
});

describe('bus against a nats-server that restarts', () => {
  it('creates the Capstan streams for the durable subjects, idempotently', async () => {
    const bus = await createBus({ servers: nats.url, senderId: 'streams' });
    await bus.ensureStreams();
    await bus.ensureStreams(); // second call updates in place
    const jsm = await jetstreamManager(bus.nc);
    const submit = await jsm.streams.info(Streams.submit);
    expect(submit.config.subjects).toEqual([Subjects.jobSubmit]);
    const result = await jsm.streams.info(Streams.result);
    expect(result.config.subjects).toEqual([Subjects.jobResult]);
    const dlq = await jsm.streams.info(Streams.deadLetter);
    expect(dlq.config.subjects).toEqual(['capstan.dlq.>']);
    // A plain core-NATS publish (what CAP SDK clients do) lands in the submit stream.
    bus.nc.publish(Subjects.jobSubmit, new Uint8Array([1]));
    await bus.nc.flush();
    await until(async () => (await jsm.streams.info(Streams.submit)).state.messages === 1);
    await bus.close();
  });

  it('reconnects after a server restart, notifies listeners and keeps its subscriptions', async () => {
    const consumer = await createBus({ servers: nats.url, senderId: 'c' });
    const producer = await createBus({ servers: nats.url, senderId: 'p' });
    let reconnects = 0;
    consumer.onReconnect(() => reconnects++);
    const got: string[] = [];
    consumer.subscribe('reconnect.test', {
      expect: ['jobRequest'],
      handler: (p) => void got.push(p.payload.value.jobId),
    });
    await consumer.nc.flush();
    const send = (id: string) =>
      producer.publish(
        'reconnect.test',
        producer.packet({ case: 'jobRequest', value: create(JobRequestSchema, { jobId: id, topic: 'job.echo' }) }),
      );
    send('before');
    await until(() => got.includes('before'));

    await nats.restart({ kill: true });
    await until(() => reconnects > 0);
    // The producer reconnects too; resend until the re-established subscription sees it.
    await until(async () => {
      send('after');
      await producer.nc.flush().catch(() => {});
      return got.includes('after');
    });
    expect(reconnects).toBeGreaterThanOrEqual(1);
    await Promise.all([consumer.close(), producer.close()]);
  });

  it('fails fast with a clear error when no server is there', async () => {
    await expect(createBus({ servers: 'nats://127.0.0.1:1', senderId: 'x' })).rejects.toThrow(
      /cannot connect to NATS at nats:\/\/127.0.0.1:1.*nats-server running/,
    );
  });
});
