import { type Bus, createBus } from '@capstan/bus';
import { createPointerStore, type PointerStore } from '@capstan/pointers';
import { Subjects } from '@capstan/protocol';
import { testServices, uniqueName } from '@capstan/testkit';
import { type Client, createClient, createWorker, type Worker } from '@capstan/worker';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Stack, startStack } from './test-support/stack.js';

// Work lost on a live worker: the dispatch never reached it (the scheduler died between commit and publish,
// nats-server restarted) or its result never reached the scheduler. The worker's heartbeats say it holds nothing.

let stack: Stack;
let pointers: PointerStore;
let client: Client;
const workers: Worker[] = [];
const buses: Bus[] = [];
beforeEach(async () => {
  stack = await startStack();
  pointers = createPointerStore({ redis: testServices().redisUrl });
  client = createClient({ bus: stack.client, pointers });
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.shutdown({ timeoutMs: 1000 })));
  await Promise.all(buses.splice(0).map((b) => b.close()));
  await stack.stop();
  await pointers.close();
});

const GRACE_MS = 400;
const topic = () => `job.${uniqueName('t')}`;

/** A bus that silently drops the first packet published on a subject matching `drop` (a lost message). */
async function lossyBus(
  name: string,
  drop: (subject: string, jobId: string) => boolean,
): Promise<Bus & { dropped: string[] }> {
  const bus = await createBus({ servers: stack.nats.url, senderId: name });
  buses.push(bus);
  const dropped: string[] = [];
  const seen = new Set<string>();
  const lose = (subject: string, key: string) => {
    if (!drop(subject, key) || seen.has(key)) return false;
    seen.add(key);
    dropped.push(subject);
    return true;
  };
  const publish = bus.publish.bind(bus);
  const publishDurable = bus.publishDurable.bind(bus);
  return Object.assign(bus, {
    dropped,
    publish: ((subject, packet, opts) => {
      const jobId = packet.payload.case === 'jobRequest' ? packet.payload.value.jobId : '';
      if (jobId && lose(subject, jobId)) return;
      publish(subject, packet, opts);
    }) as Bus['publish'],
    publishDurable: (async (subject, packet, opts) => {
      const jobId = packet.payload.case === 'jobResult' ? packet.payload.value.jobId : '';
      // Lost after the publish "succeeded": what a nats-server dying before it stored the message looks like.
      if (jobId && lose(subject, jobId)) return { stream: 'lost', seq: 0, duplicate: false, domain: '' };
      return publishDurable(subject, packet, opts);
    }) as Bus['publishDurable'],
  });
}

async function worker(tp: string, o: { bus?: Bus; handler?: (input: unknown) => Promise<unknown> } = {}) {
  const w = await createWorker({
    ...(o.bus ? { bus: o.bus } : { servers: stack.nats.url }),
    pointers,
    topics: [tp],
    heartbeatIntervalMs: 500,
    handler: o.handler ?? (async (input: unknown) => ({ echo: input })),
  });
  workers.push(w);
  await new Promise((r) => setTimeout(r, 700)); // handshake + first heartbeats
  return w;
}

const reasons = async (jobId: string) => (await stack.eventsOf(jobId)).map((e) => `${e.to_state}:${e.reason}`);

describe('lost work on a live worker', () => {
  it('re-dispatches a direct dispatch that never reached its idle worker', async () => {
    const schedulerBus = await lossyBus('lossy-scheduler', (s) => s.startsWith('worker.'));
    await stack.scheduler({ bus: schedulerBus, timings: { lostWorkGraceMs: GRACE_MS, redeliverDirectMs: 60_000 } });
    const tp = topic();
    await worker(tp);
    const started = Date.now();
    const res = await client.submitAndWait({ topic: tp, input: { n: 1 } }, { timeoutMs: 15_000 });
    expect(res.state).toBe('SUCCEEDED');
    expect(schedulerBus.dropped).toHaveLength(1);
    expect(res.snapshot.attempt).toBe(2);
    expect(await reasons(res.jobId)).toContain('RETRYING:dispatch_lost');
    // Two sightings a grace apart, after a grace since the dispatch, plus a reconcile tick or two.
    expect(Date.now() - started).toBeLessThan(3 * GRACE_MS + 2000);
  });

  it('publishes an unclaimed direct dispatch again (same lease) to a busy worker that never got it', async () => {
    const lostJob = uniqueName('lost');
    const schedulerBus = await lossyBus('lossy-scheduler', (s, jobId) => s.startsWith('worker.') && jobId === lostJob);
    // Lost-work detection needs an idle worker; this one stays busy, so only the redelivery can save the job.
    await stack.scheduler({ bus: schedulerBus, timings: { lostWorkGraceMs: 60_000, redeliverDirectMs: 500 } });
    const tp = topic();
    let runs = 0;
    await worker(tp, {
      handler: async (input) => {
        runs++;
        if ((input as { slow?: boolean }).slow) await new Promise((r) => setTimeout(r, 4000));
        return input;
      },
    });
    const busy = client.submitAndWait({ topic: tp, input: { slow: true } }, { timeoutMs: 15_000 });
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    const res = await client.submitAndWait({ topic: tp, jobId: lostJob, input: { n: 2 } }, { timeoutMs: 15_000 });
    expect(res.state).toBe('SUCCEEDED');
    expect(schedulerBus.dropped).toHaveLength(1);
    // Same attempt and lease: the copy is the dispatch itself, not a retry.
    expect(res.snapshot.attempt).toBe(1);
    expect(Date.now() - started).toBeLessThan(3000);
    expect((await busy).state).toBe('SUCCEEDED');
    expect(runs).toBe(2);
  });

  it('re-dispatches a job whose result was lost after the worker finished it', async () => {
    await stack.scheduler({ timings: { lostWorkGraceMs: GRACE_MS } });
    const tp = topic();
    const workerBus = await lossyBus('lossy-worker', (s) => s === Subjects.jobResult);

    let runs = 0;
    await worker(tp, {
      bus: workerBus,
      handler: async () => {
        runs++;
        return { runs };
      },
    });
    const res = await client.submitAndWait<{ runs: number }>({ topic: tp, input: {} }, { timeoutMs: 15_000 });
    expect(res.state).toBe('SUCCEEDED');
    expect(workerBus.dropped).toEqual([Subjects.jobResult]);
    expect(res.output).toEqual({ runs: 2 });
    // A quick direct job is still DISPATCHED when it finishes (no RUNNING notice yet): either reason is right.
    expect(await reasons(res.jobId)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^RETRYING:(dispatch|result)_lost$/)]),
    );
  });

  it('leaves a long job alone while its worker reports it active', async () => {
    await stack.scheduler({ timings: { lostWorkGraceMs: 200 } });
    const tp = topic();
    await worker(tp, {
      handler: async () => {
        await new Promise((r) => setTimeout(r, 2500));
        return 'slow';
      },
    });
    const res = await client.submitAndWait({ topic: tp, input: {} }, { timeoutMs: 15_000 });
    expect(res.state).toBe('SUCCEEDED');
    expect(res.snapshot.attempt).toBe(1);
    expect((await reasons(res.jobId)).filter((r) => r.startsWith('RETRYING'))).toEqual([]);
  });
});
