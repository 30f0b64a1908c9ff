import { JobFailure } from '@capstan/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiResponse, createKey } from './api-client.js';
import { type JobsStack, sleep, startJobsStack, tenant, topic, waitForState } from './jobs-stack.js';

let stack: JobsStack;
let org: Awaited<ReturnType<typeof tenant>>;
let echoTopic: string;
let slowTopic: string;
let failTopic: string;
let cancelled = 0;

beforeAll(async () => {
  stack = await startJobsStack({ jobInputMaxBytes: 4096 });
  org = await tenant(stack.api, 'jobs');
  echoTopic = topic();
  slowTopic = topic();
  failTopic = topic();
  await stack.worker(echoTopic, async (input: unknown, ctx) => {
    ctx.progress(50, 'half way');
    return { echo: input, attempt: ctx.attempt };
  });
  await stack.worker(slowTopic, async (_input, ctx) => {
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
    cancelled++;
    throw ctx.signal.reason;
  });
  await stack.worker(failTopic, async () => {
    throw JobFailure.fatal('boom', { code: 'INVALID_INPUT' });
  });
});
afterAll(async () => {
  await stack?.stop();
});

describe('POST /v1/jobs → worker → GET result', () => {
  it('runs a job submitted over REST and serves its result, state, list entry and stored events', async () => {
    const { api } = stack;
    const submit = await api('POST', '/v1/jobs', {
      key: org.key,
      body: { topic: echoTopic, input: { hello: 'world' }, priority: 'interactive', labels: { team: 'qa' } },
    });
    expect(submit.status).toBe(202);
    expect(submit.body).toMatchObject({ state: 'ACCEPTED', topic: echoTopic, idempotent_replay: false });
    expect(submit.body.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(submit.body.trace_id).toBe(submit.headers.get('x-trace-id'));
    expect(submit.body.input_ptr).toBe(`redis://ctx:${submit.body.job_id}`);
    const jobId: string = submit.body.job_id;

    // Readable at once: ACCEPTED until the scheduler has recorded it, never 404.
    const early = await api('GET', `/v1/jobs/${jobId}`, { key: org.key });
    expect(early.status).toBe(200);
    expect(early.body.job_id).toBe(jobId);

    const done = await waitForState(api, org.key, jobId, (s) => s === 'SUCCEEDED');
    expect(done).toMatchObject({
      topic: echoTopic,
      priority: 'interactive',
      attempt: 1,
      labels: { team: 'qa' },
      trace_id: submit.body.trace_id,
      input_ptr: `redis://ctx:${jobId}`,
      result_ptr: `redis://res:${jobId}`,
      error: null,
    });
    expect(done.worker_id).toBeTruthy();
    expect(done.decision).toMatchObject({ decision: 'ALLOW' });
    expect(done.finished_at).not.toBeNull();

    const result = await api('GET', `/v1/jobs/${jobId}/result`, { key: org.key });
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ state: 'SUCCEEDED', output: { echo: { hello: 'world' }, attempt: 1 } });

    const events = await api('GET', `/v1/jobs/${jobId}/events`, { key: org.key });
    expect(events.status).toBe(200);
    expect(events.body.events.map((e: { to_state: string }) => e.to_state)).toEqual([
      'PENDING',
      'SCHEDULED',
      'DISPATCHED',
      'RUNNING',
      'SUCCEEDED',
    ]);
    const paged = await api('GET', `/v1/jobs/${jobId}/events?per_page=2`, { key: org.key });
    expect(paged.body.events).toHaveLength(2);
    const rest = await api('GET', `/v1/jobs/${jobId}/events?cursor=${paged.body.pagination.next_cursor}`, {
      key: org.key,
    });
    // The second page is exactly the events after the first two (seqs may skip numbers: they are row versions).
    const seqsOf = (list: { seq: number }[]) => list.map((e) => e.seq);
    expect(seqsOf(rest.body.events)).toEqual(seqsOf(events.body.events).slice(2));

    const list = await api('GET', `/v1/jobs?topic=${echoTopic}&state=SUCCEEDED`, { key: org.key });
    expect(list.status).toBe(200);
    expect(list.body.jobs.map((j: { job_id: string }) => j.job_id)).toContain(jobId);
  });

  it('accepts text as a JSON string and jobs without input', async () => {
    const { api } = stack;
    const text = await api('POST', '/v1/jobs', { key: org.key, body: { topic: echoTopic, input: 'plain text' } });
    const none = await api('POST', '/v1/jobs', { key: org.key, body: { topic: echoTopic } });
    expect(none.body.input_ptr).toBeNull();
    await waitForState(api, org.key, text.body.job_id, (s) => s === 'SUCCEEDED');
    await waitForState(api, org.key, none.body.job_id, (s) => s === 'SUCCEEDED');
    expect((await api('GET', `/v1/jobs/${text.body.job_id}/result`, { key: org.key })).body.output.echo).toBe(
      'plain text',
    );
  });

  it('chains a job on the result pointer of an earlier job of the same organization', async () => {
    const { api } = stack;
    const first = await api('POST', '/v1/jobs', { key: org.key, body: { topic: echoTopic, input: 7 } });
    await waitForState(api, org.key, first.body.job_id, (s) => s === 'SUCCEEDED');
    const second = await api('POST', '/v1/jobs', {
      key: org.key,
      body: { topic: echoTopic, input_ptr: `redis://res:${first.body.job_id}` },
    });
    expect(second.status).toBe(202);
    expect(second.body.input_ptr).toBe(`redis://res:${first.body.job_id}`);
    await waitForState(api, org.key, second.body.job_id, (s) => s === 'SUCCEEDED');
    const result = await api('GET', `/v1/jobs/${second.body.job_id}/result`, { key: org.key });
    expect(result.body.output).toEqual({ echo: { echo: 7, attempt: 1 }, attempt: 1 });
  });

  it('paginates the job list with a cursor, newest first, and filters by creation time', async () => {
    const { api } = stack;
    const own = await tenant(api, 'paging');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await api('POST', '/v1/jobs', { key: own.key, body: { topic: echoTopic, input: i } });
      ids.push(res.body.job_id);
      await waitForState(api, own.key, res.body.job_id, (s) => s !== 'ACCEPTED');
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: ApiResponse = await api('GET', `/v1/jobs?per_page=2${cursor ? `&cursor=${cursor}` : ''}`, {
        key: own.key,
      });
      expect(page.status).toBe(200);
      expect(page.body.jobs.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.jobs.map((j: { job_id: string }) => j.job_id));
      cursor = page.body.pagination.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    const future = await api(
      'GET',
      `/v1/jobs?created_after=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
      {
        key: own.key,
      },
    );
    expect(future.body.jobs).toEqual([]);
  });
});

describe('Idempotency-Key', () => {
  it('returns the same job for a resubmit, before and after the scheduler recorded it, and runs it once', async () => {
    const { api } = stack;
    const key = `order-${Date.now()}`;
    const body = { topic: echoTopic, input: { order: 1 } };
    const [a, b] = await Promise.all([
      api('POST', '/v1/jobs', { key: org.key, body, headers: { 'idempotency-key': key } }),
      api('POST', '/v1/jobs', { key: org.key, body, headers: { 'idempotency-key': key } }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 202]);
    expect(a.body.job_id).toBe(b.body.job_id);
    expect(a.body.trace_id).toBe(b.body.trace_id);
    const jobId = a.body.job_id;
    await waitForState(api, org.key, jobId, (s) => s === 'SUCCEEDED');
    const later = await api('POST', '/v1/jobs', { key: org.key, body, headers: { 'idempotency-key': key } });
    expect(later.status).toBe(200);
    expect(later.body).toMatchObject({ job_id: jobId, idempotent_replay: true, state: 'SUCCEEDED' });
    const rows = await stack.gw.store.db
      .selectFrom('jobs')
      .select(['job_id', 'attempt', 'idempotency_key'])
      .where('idempotency_key', '=', key)
      .execute();
    expect(rows).toEqual([{ job_id: jobId, attempt: 1, idempotency_key: key }]);
  });

  it('refuses the same key with a different body (409, 1012), and keys are per organization', async () => {
    const { api } = stack;
    const key = `reused-${Date.now()}`;
    const first = await api('POST', '/v1/jobs', {
      key: org.key,
      body: { topic: echoTopic, input: 1 },
      headers: { 'idempotency-key': key },
    });
    const other = await api('POST', '/v1/jobs', {
      key: org.key,
      body: { topic: echoTopic, input: 2 },
      headers: { 'idempotency-key': key },
    });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe(1012);
    expect(other.body.error.details[0].field).toBe('idempotency-key');
    const otherOrg = await tenant(api, 'idem-other');
    const theirs = await api('POST', '/v1/jobs', {
      key: otherOrg.key,
      body: { topic: echoTopic, input: 1 },
      headers: { 'idempotency-key': key },
    });
    expect(theirs.status).toBe(202);
    expect(theirs.body.job_id).not.toBe(first.body.job_id);
  });
});

describe('POST /v1/jobs/:id/cancel', () => {
  it('cancels a long-running job: the worker is aborted and the job ends CANCELLED', async () => {
    const { api } = stack;
    const submit = await api('POST', '/v1/jobs', { key: org.key, body: { topic: slowTopic, input: {} } });
    const jobId = submit.body.job_id;
    await waitForState(api, org.key, jobId, (s) => s === 'RUNNING');
    const before = cancelled;
    const res = await api('POST', `/v1/jobs/${jobId}/cancel`, { key: org.key, body: { reason: 'user pressed stop' } });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ job_id: jobId, state: 'RUNNING', cancel_requested: true });
    const done = await waitForState(api, org.key, jobId, (s) => s === 'CANCELLED');
    expect(done.state).toBe('CANCELLED');
    expect(cancelled).toBe(before + 1);
    const again = await api('POST', `/v1/jobs/${jobId}/cancel`, { key: org.key });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe(6004);
    const audit = await api('GET', '/v1/audit-logs?action=job.cancelled', { token: org.token });
    expect(audit.body.logs.some((l: { resource_id: string }) => l.resource_id === jobId)).toBe(true);
  });

  it('cancels a job accepted but not yet recorded once the scheduler records it; 409 (1010) if it stays behind', async () => {
    const { api } = stack;
    await stack.stopScheduler();
    let restarted: Promise<void> | undefined;
    try {
      const behind = await api('POST', '/v1/jobs', { key: org.key, body: { topic: slowTopic, input: {} } });
      const started = Date.now();
      const refused = await api('POST', `/v1/jobs/${behind.body.job_id}/cancel`, { key: org.key });
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe(1010);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(Date.now() - started).toBeGreaterThanOrEqual(2900);

      // Submit, then cancel at once; the scheduler comes back while the cancel waits for the job's row.
      const submit = await api('POST', '/v1/jobs', { key: org.key, body: { topic: slowTopic, input: {} } });
      const jobId = submit.body.job_id;
      restarted = sleep(300).then(() => stack.startScheduler());
      const res = await api('POST', `/v1/jobs/${jobId}/cancel`, { key: org.key, body: { reason: 'changed my mind' } });
      expect(res.status).toBe(202);
      expect(res.body.cancel_requested).toBe(true);
      const done = await waitForState(api, org.key, jobId, (s) => s === 'CANCELLED');
      expect(done.state).toBe('CANCELLED');
      // The first one is recorded now: its cancel goes through as usual.
      expect((await api('POST', `/v1/jobs/${behind.body.job_id}/cancel`, { key: org.key })).status).toBe(202);
      await waitForState(api, org.key, behind.body.job_id, (s) => s === 'CANCELLED');
    } finally {
      await (restarted ?? stack.startScheduler());
    }
  });

  it('answers 409 (1008) for the result of an unfinished job, with Retry-After', async () => {
    const { api } = stack;
    const submit = await api('POST', '/v1/jobs', { key: org.key, body: { topic: slowTopic, input: {} } });
    const jobId = submit.body.job_id;
    const res = await api('GET', `/v1/jobs/${jobId}/result`, { key: org.key });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe(1008);
    expect(res.headers.get('retry-after')).toBe('1');
    await waitForState(api, org.key, jobId, (s) => s === 'RUNNING');
    await api('POST', `/v1/jobs/${jobId}/cancel`, { key: org.key });
    await waitForState(api, org.key, jobId, (s) => s === 'CANCELLED');
  });

  it('serves the state and error of a failed job as its result', async () => {
    const { api } = stack;
    const submit = await api('POST', '/v1/jobs', { key: org.key, body: { topic: failTopic, input: {} } });
    await waitForState(api, org.key, submit.body.job_id, (s) => s === 'FAILED');
    const res = await api('GET', `/v1/jobs/${submit.body.job_id}/result`, { key: org.key });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'FAILED', output: null });
    expect(res.body.error.message).toContain('boom');
  });
});

describe('bad input', () => {
  const bad: Array<[string, unknown, number, number, string]> = [
    ['a topic outside job.*', { topic: 'sys.job.submit' }, 400, 3001, 'topic'],
    ['a wildcard topic', { topic: 'job.>' }, 400, 3001, 'topic'],
    ['a missing topic', { input: 1 }, 400, 3002, 'topic'],
    ['an unknown field (beside a wrong one)', { topic: 'job.x', tenant: 'other', priority: 1 }, 400, 3001, 'tenant'],
    ['a wrong priority', { topic: 'job.x', priority: 'urgent' }, 400, 3001, 'priority'],
    ['a reserved label', { topic: 'job.x', labels: { 'capstan.retry_of': 'x' } }, 400, 3001, 'labels.capstan.retry_of'],
    ['a negative budget', { topic: 'job.x', budget: { deadline_ms: -1 } }, 400, 3001, 'budget.deadline_ms'],
    ['input and input_ptr together', { topic: 'job.x', input: 1, input_ptr: 'redis://ctx:a' }, 400, 3001, 'input_ptr'],
    ['an input over the limit', { topic: 'job.x', input: 'x'.repeat(5000) }, 413, 1002, 'input'],
    ['a pointer to a foreign payload', { topic: 'job.x', input_ptr: 'redis://secret-key' }, 400, 3001, 'input_ptr'],
    ['an s3 pointer', { topic: 'job.x', input_ptr: 's3://bucket/key' }, 400, 3001, 'input_ptr'],
    ['a malformed pointer', { topic: 'job.x', input_ptr: 'redis://' }, 400, 3001, 'input_ptr'],
  ];
  for (const [what, body, status, code, field] of bad) {
    it(`POST /v1/jobs with ${what} → ${status} ${code} naming ${field}`, async () => {
      const res = await stack.api('POST', '/v1/jobs', { key: org.key, body });
      expect(res.status, res.text).toBe(status);
      expect(res.body.error.code).toBe(code);
      expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    });
  }

  it('rejects a pointer to another job’s input that does not exist or is not the caller’s', async () => {
    const res = await stack.api('POST', '/v1/jobs', {
      key: org.key,
      body: { topic: echoTopic, input_ptr: 'redis://ctx:no-such-job' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('input_ptr');
  });

  it('rejects bad pagination, bad filters, bad cursors and traversal ids with field details', async () => {
    const cases: Array<[string, number, string]> = [
      ['/v1/jobs?per_page=1000', 400, 'per_page'],
      ['/v1/jobs?per_page=0', 400, 'per_page'],
      ['/v1/jobs?cursor=not*a*cursor', 400, 'cursor'],
      ['/v1/jobs?cursor=eyJ4IjoxfQ', 400, 'cursor'],
      ['/v1/jobs?state=DONE', 400, 'state'],
      ['/v1/jobs?created_after=yesterday', 400, 'created_after'],
      ['/v1/jobs?bogus=1', 400, 'bogus'],
      ['/v1/jobs/..%2F..%2Fetc%2Fpasswd', 400, 'id'],
      ['/v1/jobs/a%20b/result', 400, 'id'],
      ['/v1/jobs/job.1/events', 400, 'id'],
      [`/v1/jobs/x/events?per_page=999`, 400, 'per_page'],
    ];
    for (const [path, status, field] of cases) {
      const res = await stack.api('GET', path, { key: org.key });
      expect(res.status, path).toBe(status);
      expect(
        res.body.error.details.map((d: { field: string }) => d.field),
        path,
      ).toContain(field);
    }
  });

  it('answers 404 (6002) for unknown jobs on every id route', async () => {
    for (const [method, path] of [
      ['GET', '/v1/jobs/nope'],
      ['GET', '/v1/jobs/nope/result'],
      ['GET', '/v1/jobs/nope/events'],
      ['POST', '/v1/jobs/nope/cancel'],
    ] as const) {
      const res = await stack.api(method, path, { key: org.key });
      expect(res.status, path).toBe(404);
      expect(res.body.error.code).toBe(6002);
    }
  });

  it('needs role developer and the jobs:write scope to submit; viewers can read', async () => {
    const { api } = stack;
    const viewer = (await createKey(api, org.token, { role: 'viewer' })).key;
    const readOnly = (await createKey(api, org.token, { scopes: ['jobs:read'] })).key;
    for (const key of [viewer, readOnly]) {
      const res = await api('POST', '/v1/jobs', { key, body: { topic: echoTopic } });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe(4003);
    }
    expect((await api('GET', '/v1/jobs', { key: viewer })).status).toBe(200);
    expect((await api('GET', '/v1/jobs', {})).status).toBe(401);
  });
});

describe('durability of accepted submits', () => {
  it('a job accepted while no scheduler runs is recorded and run once one starts', async () => {
    const { api } = stack;
    await stack.stopScheduler();
    try {
      const submit = await api('POST', '/v1/jobs', { key: org.key, body: { topic: echoTopic, input: 'later' } });
      expect(submit.status).toBe(202);
      await sleep(300);
      const waiting = await api('GET', `/v1/jobs/${submit.body.job_id}`, { key: org.key });
      expect(waiting.body.state).toBe('ACCEPTED');
      const cancel = await api('POST', `/v1/jobs/${submit.body.job_id}/cancel`, { key: org.key });
      expect(cancel.status).toBe(409);
      expect(cancel.body.error.code).toBe(1010);
      await stack.startScheduler();
      await waitForState(api, org.key, submit.body.job_id, (s) => s === 'SUCCEEDED');
    } finally {
      await stack.startScheduler();
    }
  });
});
