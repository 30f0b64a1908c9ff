import { JobFailure } from '@capstan/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey } from './api-client.js';
import {
  connectPhoenix,
  eventually,
  type JobsStack,
  readSse,
  startJobsStack,
  tenant,
  topic,
  waitForState,
} from './jobs-stack.js';

let stack: JobsStack;
let a: Awaited<ReturnType<typeof tenant>>;
let b: Awaited<ReturnType<typeof tenant>>;
let bAdminKey: string;
let slowTopic: string;
const ids = { done: '', running: '', dlq: '' };

beforeAll(async () => {
  stack = await startJobsStack();
  a = await tenant(stack.api, 'iso-a');
  b = await tenant(stack.api, 'iso-b');
  bAdminKey = (await createKey(stack.api, b.token, { role: 'admin' })).key;
  const echoTopic = topic();
  const failTopic = topic();
  slowTopic = topic();
  await stack.worker(echoTopic, async (input: unknown) => ({ secret: input }));
  await stack.worker(failTopic, async () => {
    throw JobFailure.fatal('nope');
  });
  await stack.worker(slowTopic, async (_input, ctx) => {
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
    throw ctx.signal.reason;
  });
  const done = await stack.api('POST', '/v1/jobs', { key: a.key, body: { topic: echoTopic, input: 'a-secret' } });
  ids.done = done.body.job_id;
  const running = await stack.api('POST', '/v1/jobs', { key: a.key, body: { topic: slowTopic, input: {} } });
  ids.running = running.body.job_id;
  const failed = await stack.api('POST', '/v1/jobs', { key: a.key, body: { topic: failTopic, input: {} } });
  await waitForState(stack.api, a.key, ids.done, (s) => s === 'SUCCEEDED');
  await waitForState(stack.api, a.key, ids.running, (s) => s === 'RUNNING');
  await waitForState(stack.api, a.key, failed.body.job_id, (s) => s === 'FAILED');
  const dlq = await eventually(async () => {
    const list = await stack.api('GET', '/v1/dlq', { key: a.key });
    return list.body.entries[0]?.id as string | undefined;
  }, 'A’s DLQ entry');
  ids.dlq = dlq;
});
afterAll(async () => {
  await stack?.stop();
});

describe('tenant isolation of jobs, DLQ, workers and streams', () => {
  const cases: Array<[string, () => string, number]> = [
    ['GET', () => `/v1/jobs/${ids.done}`, 6002],
    ['GET', () => `/v1/jobs/${ids.done}/result`, 6002],
    ['GET', () => `/v1/jobs/${ids.done}/events`, 6002],
    ['GET', () => `/v1/jobs/${ids.done}/stream`, 6002],
    ['POST', () => `/v1/jobs/${ids.running}/cancel`, 6002],
    ['GET', () => `/v1/dlq/${ids.dlq}`, 1011],
    ['POST', () => `/v1/dlq/${ids.dlq}/retry`, 1011],
  ];
  for (const [method, path, code] of cases) {
    it(`${method} ${path.toString().match(/\/v1\/[^`]*/)?.[0] ?? ''} → 404 ${code} for another organization`, async () => {
      for (const credential of [{ token: b.token }, { key: bAdminKey }]) {
        const res = await stack.api(method, path(), credential);
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe(code);
        expect(res.text).not.toContain(a.organizationId);
        expect(res.text).not.toContain('a-secret');
      }
    });
  }

  it('leaves A’s jobs untouched by B’s attempts', async () => {
    const running = await stack.api('GET', `/v1/jobs/${ids.running}`, { key: a.key });
    expect(running.body).toMatchObject({ state: 'RUNNING', cancel_requested: false });
    const entry = await stack.api('GET', `/v1/dlq/${ids.dlq}`, { key: a.key });
    expect(entry.body.retried_job_id).toBeNull();
  });

  it('lists nothing of A to B', async () => {
    for (const path of ['/v1/jobs', '/v1/jobs?per_page=200', '/v1/dlq', '/v1/workers']) {
      const res = await stack.api('GET', path, { key: b.key });
      expect(res.status).toBe(200);
      expect(res.text).not.toContain(ids.done);
      expect(res.text).not.toContain(ids.running);
      expect(res.text).not.toContain(a.organizationId);
    }
  });

  it('refuses B’s WebSocket join of A’s job exactly like an unknown job, and B’s jobs:* carries nothing of A', async () => {
    const client = await connectPhoenix(stack.gw.url, b.key);
    try {
      const foreign = await client.join(`jobs:${ids.done}`, { cursor: 0 });
      const unknown = await client.join('jobs:no-such-job');
      expect(foreign.status).toBe('error');
      expect(foreign.response.code).toBe(6002);
      expect(foreign.response.reason).toBe(`Job ${ids.done} not found`);
      expect(unknown.response.code).toBe(6002);
      expect((await client.join('jobs:*', { cursor: 0 })).status).toBe('ok');
      expect((await client.join('jobs:*', { cursor: `${ids.done}:1` })).response).toMatchObject({ code: 3001 });
      // A's job moves on (cancelled); none of it may reach B.
      expect((await stack.api('POST', `/v1/jobs/${ids.running}/cancel`, { key: a.key })).status).toBe(202);
      await waitForState(stack.api, a.key, ids.running, (s) => s === 'CANCELLED');
      await new Promise((r) => setTimeout(r, 300));
      const leaked = client.frames.filter(
        (f) => JSON.stringify(f).includes(ids.running) || JSON.stringify(f).includes(ids.done),
      );
      expect(leaked.filter((f) => f[3] === 'job_event')).toEqual([]);
    } finally {
      client.close();
    }
  });

  it('keeps an accepted-but-unrecorded job of A invisible to B', async () => {
    await stack.stopScheduler();
    try {
      const submit = await stack.api('POST', '/v1/jobs', { key: a.key, body: { topic: slowTopic, input: {} } });
      const jobId = submit.body.job_id;
      expect((await stack.api('GET', `/v1/jobs/${jobId}`, { key: a.key })).body.state).toBe('ACCEPTED');
      expect((await stack.api('GET', `/v1/jobs/${jobId}`, { key: b.key })).status).toBe(404);
      expect((await readSse(`${stack.gw.url}/v1/jobs/${jobId}/stream`, { 'x-api-key': b.key })).status).toBe(404);
      const client = await connectPhoenix(stack.gw.url, b.key);
      try {
        expect((await client.join(`jobs:${jobId}`)).response.code).toBe(6002);
      } finally {
        client.close();
      }
    } finally {
      await stack.startScheduler();
    }
  });

  it('refuses B an input pointer to A’s input or result', async () => {
    for (const ptr of [`redis://ctx:${ids.done}`, `redis://res:${ids.done}`]) {
      const res = await stack.api('POST', '/v1/jobs', { key: b.key, body: { topic: slowTopic, input_ptr: ptr } });
      expect(res.status).toBe(400);
      expect(res.body.error.details[0].field).toBe('input_ptr');
    }
  });
});
