import { type IncomingMessage, request } from 'node:http';
import type { Socket } from 'node:net';
import { create, toBinary } from '@bufbuild/protobuf';
import { JobEventKind, JobEventSchema } from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import { jobEventsSubject } from '@capstan/protocol';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPhoenix, eventually, type JobsStack, startJobsStack, tenant, topic } from './jobs-stack.js';

const LIMIT = 64 * 1024;
let stack: JobsStack;
let org: Awaited<ReturnType<typeof tenant>>;
let nc: NatsConnection;
let flooding = true;

beforeAll(async () => {
  stack = await startJobsStack({ streamMaxBufferedBytes: LIMIT, wsIdleTimeoutMs: 1500 });
  org = await tenant(stack.api, 'slow');
  nc = await connect({ servers: stack.nats.url });
});
afterAll(async () => {
  flooding = false;
  await nc?.close();
  await stack?.stop();
});

/** Publishes big PROGRESS events for `jobId` (as the scheduler would) until `done()` or `max` events. */
async function flood(jobId: string, done: () => boolean, max = 40_000) {
  const message = 'x'.repeat(4000);
  let seq = 0;
  while (flooding && !done() && seq < max) {
    for (let i = 0; i < 200; i++) {
      seq++;
      const event = create(JobEventSchema, {
        kind: JobEventKind.PROGRESS,
        // Progress carries the seq of the job's latest transition (the job waits, SCHEDULED, at seq 2).
        seq: 2n,
        job: { jobId, tenant: org.organizationId, state: 'RUNNING', progressPct: 50, progressMessage: message },
      });
      nc.publish(jobEventsSubject(org.organizationId, jobId), toBinary(JobEventSchema, event));
    }
    await nc.flush();
  }
  return seq;
}

describe('slow consumers are evicted, never buffered without bound', () => {
  it('closes a WebSocket client that stops reading with 4008 once it is more than the limit behind', async () => {
    const submit = await stack.api('POST', '/v1/jobs', { key: org.key, body: { topic: topic() } });
    const jobId = submit.body.job_id;
    const client = await connectPhoenix(stack.gw.url, org.key);
    expect((await client.join(`jobs:${jobId}`)).status).toBe('ok');
    const tcp = (client.socket as unknown as { _socket: Socket })._socket;
    tcp.pause(); // the client stops reading: the kernel buffers fill, then the server's
    const evictions = () => stack.gw.service.context.streams.stats().evictions.websocket;
    const before = evictions();
    const sent = await flood(jobId, () => evictions() > before);
    expect(evictions()).toBe(before + 1);
    // The server stopped sending at the limit: far less than what was published reached the socket.
    expect(sent).toBeGreaterThan(0);
    tcp.resume();
    const closed = await client.closed;
    expect(closed.code).toBe(4008);
    expect(closed.reason).toContain('slow consumer');
    const received = client.frames.filter((f) => f[3] === 'job_event').length;
    expect(received).toBeLessThan(sent);
    // The tenant's shared subscription is released with its last listener.
    await eventually(
      async () => (stack.gw.service.context.jobEvents.stats().listeners === 0 ? true : undefined),
      'the hub listener to be released',
    );
  });

  it('ends an SSE stream whose client stops reading', async () => {
    const submit = await stack.api('POST', '/v1/jobs', { key: org.key, body: { topic: topic() } });
    const jobId = submit.body.job_id;
    const url = new URL(`${stack.gw.url}/v1/jobs/${jobId}/stream`);
    const evictions = () => stack.gw.service.context.streams.stats().evictions.sse;
    const before = evictions();
    let response: IncomingMessage | undefined;
    const ended = new Promise<void>((resolve, reject) => {
      const req = request(url, { headers: { 'x-api-key': org.key } }, (res) => {
        response = res;
        res.socket.pause(); // never read: the server's buffers fill
        res.on('close', () => resolve());
        res.on('error', () => resolve());
      });
      req.on('error', reject);
      req.end();
    });
    await eventually(async () => response, 'the stream to open');
    expect(response?.statusCode).toBe(200);
    await flood(jobId, () => evictions() > before);
    expect(evictions()).toBe(before + 1);
    expect(stack.gw.service.context.streams.stats().sse).toBe(0);
    // Reading again, the client finds the connection closed by the server.
    response?.socket.resume();
    response?.resume();
    await ended;
  });

  it('closes an idle WebSocket (no heartbeat within the idle timeout) with 4000, and keeps a beating one', async () => {
    const idle = await connectPhoenix(stack.gw.url, org.key);
    const beating = await connectPhoenix(stack.gw.url, org.key);
    const timer = setInterval(() => beating.push('phoenix', 'heartbeat'), 400);
    try {
      expect((await idle.closed).code).toBe(4000);
      expect(beating.socket.readyState).toBe(beating.socket.OPEN);
    } finally {
      clearInterval(timer);
      beating.close();
    }
  });
});
