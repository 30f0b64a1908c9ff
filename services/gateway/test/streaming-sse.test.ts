import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey } from './api-client.js';
import { type JobsStack, readSse, startJobsStack, tenant, topic, waitForState } from './jobs-stack.js';

let stack: JobsStack;
let org: Awaited<ReturnType<typeof tenant>>;
let echoTopic: string;
let slowTopic: string;

beforeAll(async () => {
  stack = await startJobsStack({ sseHeartbeatMs: 150 });
  org = await tenant(stack.api, 'sse');
  echoTopic = topic();
  slowTopic = topic();
  await stack.worker(echoTopic, async (input: unknown, ctx) => {
    ctx.progress(60, 'most of it');
    return { echo: input };
  });
  await stack.worker(slowTopic, async (_input, ctx) => {
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
    throw ctx.signal.reason;
  });
});
afterAll(async () => {
  await stack?.stop();
});

const auth = () => ({ 'x-api-key': org.key });
const states = (messages: Array<{ event?: string; data: string }>) =>
  messages.filter((m) => m.event === 'job_event').map((m) => JSON.parse(m.data) as { kind: string; state: string });

describe('SSE GET /v1/jobs/:id/stream', () => {
  it('streams a REST-submitted job’s events from the start, ids = seq, and ends after the terminal state', async () => {
    const submit = await stack.api('POST', '/v1/jobs', { key: org.key, body: { topic: echoTopic, input: 1 } });
    const jobId = submit.body.job_id;
    const res = await readSse(`${stack.gw.url}/v1/jobs/${jobId}/stream`, auth());
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('x-trace-id')).toMatch(/^[0-9a-f]{32}$/);
    expect(res.headers.get('x-ratelimit-limit')).not.toBeNull();
    const events = states(res.messages);
    expect(events.filter((e) => e.kind === 'transition').map((e) => e.state)).toEqual([
      'PENDING',
      'SCHEDULED',
      'DISPATCHED',
      'RUNNING',
      'SUCCEEDED',
    ]);
    const ids = res.messages.filter((m) => m.event === 'job_event').map((m) => Number(m.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    // Transition ids are the stored events' seqs (row versions: increasing, possibly with gaps).
    const t = res.messages
      .filter((m) => m.event === 'job_event' && JSON.parse(m.data).kind === 'transition')
      .map((m) => m.id);
    expect(t).toHaveLength(5);
    expect(res.messages.at(-1)).toMatchObject({ event: 'end' });
    expect(JSON.parse(res.messages.at(-1)!.data)).toEqual({ job_id: jobId, state: 'SUCCEEDED' });

    // Resume after the third transition: only the rest.
    const resumed = await readSse(`${stack.gw.url}/v1/jobs/${jobId}/stream`, { ...auth(), 'last-event-id': t[2]! });
    expect(resumed.messages.filter((m) => m.event === 'job_event').map((m) => m.id)).toEqual(t.slice(3));
    const viaQuery = await readSse(`${stack.gw.url}/v1/jobs/${jobId}/stream?last_event_id=${t[3]}`, auth());
    expect(viaQuery.messages.filter((m) => m.event === 'job_event').map((m) => m.id)).toEqual(t.slice(4));
    // Nothing left for a finished job: 204 tells EventSource to stop reconnecting.
    const after = await readSse(`${stack.gw.url}/v1/jobs/${jobId}/stream`, { ...auth(), 'last-event-id': t[4]! });
    expect(after.status).toBe(204);
    // An id past any seq (beyond Postgres's integer) is "after everything", not a 500.
    const huge = await readSse(`${stack.gw.url}/v1/jobs/${jobId}/stream`, { ...auth(), 'last-event-id': '9999999999' });
    expect(huge.status).toBe(204);
    // Same for a stored-events cursor: refused as a bad cursor, not a failed query.
    const cursor = Buffer.from(JSON.stringify({ s: 1e10 })).toString('base64url');
    const stored = await stack.api('GET', `/v1/jobs/${jobId}/events?cursor=${cursor}`, { key: org.key });
    expect(stored.status).toBe(400);
  });

  it('follows a running job live with heartbeat comments until it is cancelled', async () => {
    const submit = await stack.api('POST', '/v1/jobs', { key: org.key, body: { topic: slowTopic, input: {} } });
    const jobId = submit.body.job_id;
    await waitForState(stack.api, org.key, jobId, (s) => s === 'RUNNING');
    const reading = readSse(`${stack.gw.url}/v1/jobs/${jobId}/stream`, auth());
    await new Promise((r) => setTimeout(r, 500));
    expect((await stack.api('POST', `/v1/jobs/${jobId}/cancel`, { key: org.key })).status).toBe(202);
    const res = await reading;
    expect(res.comments).toContain('ping');
    expect(states(res.messages).at(-1)).toMatchObject({ kind: 'transition', state: 'CANCELLED' });
    expect(res.messages.at(-1)?.event).toBe('end');
  });

  it('ends a stream at once (event: close, code 5002) when its API key is revoked', async () => {
    const reader = await createKey(stack.api, org.token, { role: 'viewer' });
    const submit = await stack.api('POST', '/v1/jobs', { key: org.key, body: { topic: slowTopic, input: {} } });
    const jobId = submit.body.job_id;
    await waitForState(stack.api, org.key, jobId, (s) => s === 'RUNNING');
    const started = Date.now();
    const reading = readSse(`${stack.gw.url}/v1/jobs/${jobId}/stream`, { 'x-api-key': reader.key });
    await new Promise((r) => setTimeout(r, 500));
    expect((await stack.api('DELETE', `/v1/api-keys/${reader.id}`, { token: org.token })).status).toBe(204);
    const res = await reading;
    expect(res.status).toBe(200);
    expect(res.messages.at(-1)?.event).toBe('close');
    expect(JSON.parse(res.messages.at(-1)!.data)).toMatchObject({ reason: 'credential rejected', code: 5002 });
    expect(Date.now() - started).toBeLessThan(10_000);
    // The job itself goes on; cancel it so the worker is free.
    expect((await stack.api('POST', `/v1/jobs/${jobId}/cancel`, { key: org.key })).status).toBe(202);
  });

  it('streams a job accepted but not yet recorded (no 404 race after the submit)', async () => {
    await stack.stopScheduler();
    try {
      const submit = await stack.api('POST', '/v1/jobs', { key: org.key, body: { topic: echoTopic, input: 2 } });
      const reading = readSse(`${stack.gw.url}/v1/jobs/${submit.body.job_id}/stream`, auth());
      await new Promise((r) => setTimeout(r, 300));
      await stack.startScheduler();
      const res = await reading;
      expect(res.status).toBe(200);
      expect(states(res.messages).at(-1)?.state).toBe('SUCCEEDED');
    } finally {
      await stack.startScheduler();
    }
  });

  it('is tenant-scoped and validates its input', async () => {
    const submit = await stack.api('POST', '/v1/jobs', { key: org.key, body: { topic: echoTopic, input: 3 } });
    const other = await tenant(stack.api, 'sse-other');
    const foreign = await fetch(`${stack.gw.url}/v1/jobs/${submit.body.job_id}/stream`, {
      headers: { 'x-api-key': other.key },
    });
    expect(foreign.status).toBe(404);
    expect(((await foreign.json()) as { error: { code: number } }).error.code).toBe(6002);
    const unknown = await fetch(`${stack.gw.url}/v1/jobs/no-such-job/stream`, { headers: auth() });
    expect(unknown.status).toBe(404);
    const badId = await fetch(`${stack.gw.url}/v1/jobs/..%2Fx/stream`, { headers: auth() });
    expect(badId.status).toBe(400);
    const badLast = await fetch(`${stack.gw.url}/v1/jobs/${submit.body.job_id}/stream`, {
      headers: { ...auth(), 'last-event-id': 'abc' },
    });
    expect(badLast.status).toBe(400);
    expect(((await badLast.json()) as { error: { details: Array<{ field: string }> } }).error.details[0]?.field).toBe(
      'last-event-id',
    );
    const anonymous = await fetch(`${stack.gw.url}/v1/jobs/${submit.body.job_id}/stream`);
    expect(anonymous.status).toBe(401);
  });
});
