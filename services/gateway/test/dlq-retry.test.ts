import { JobFailure } from '@capstan/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiResponse, createKey } from './api-client.js';
import { eventually, type JobsStack, startJobsStack, tenant, topic, waitForState } from './jobs-stack.js';

let stack: JobsStack;
let org: Awaited<ReturnType<typeof tenant>>;
let flakyTopic: string;
let healthy = false;

beforeAll(async () => {
  stack = await startJobsStack();
  org = await tenant(stack.api, 'dlq');
  flakyTopic = topic();
  await stack.worker(flakyTopic, async (input: { n: number }) => {
    if (!healthy) throw JobFailure.fatal('downstream is broken', { code: 'INVALID_INPUT' });
    return { fixed: input.n };
  });
});
afterAll(async () => {
  await stack?.stop();
});

async function deadLetter(n: number): Promise<string> {
  const submit = await stack.api('POST', '/v1/jobs', { key: org.key, body: { topic: flakyTopic, input: { n } } });
  await waitForState(stack.api, org.key, submit.body.job_id, (s) => s === 'FAILED');
  return submit.body.job_id;
}

describe('/v1/dlq', () => {
  it('lists dead-lettered jobs and retries one as a new job that runs', async () => {
    const { api } = stack;
    const jobId = await deadLetter(1);
    const entry = await eventually(async () => {
      const list = await api('GET', '/v1/dlq', { key: org.key });
      return list.body.entries.find((e: { job_id: string }) => e.job_id === jobId);
    }, 'the DLQ entry');
    expect(entry).toMatchObject({
      job_id: jobId,
      topic: flakyTopic,
      reason: 'fatal',
      final_state: 'FAILED',
      retried_job_id: null,
    });
    expect(entry.error_message).toContain('downstream is broken');
    expect((await api('GET', `/v1/dlq/${entry.id}`, { key: org.key })).body).toEqual(entry);

    healthy = true;
    try {
      const retry = await api('POST', `/v1/dlq/${entry.id}/retry`, { key: org.key });
      expect(retry.status).toBe(202);
      expect(retry.body).toEqual({ dlq_id: entry.id, job_id: `${jobId}-r${entry.id}`, retry_of: jobId });
      const retried = await waitForState(api, org.key, retry.body.job_id, (s) => s === 'SUCCEEDED');
      expect(retried.labels).toMatchObject({ 'capstan.retry_of': jobId });
      expect(retried.parent_job_id).toBe(jobId);
      const result = await api('GET', `/v1/jobs/${retry.body.job_id}/result`, { key: org.key });
      expect(result.body.output).toEqual({ fixed: 1 });

      const again = await api('POST', `/v1/dlq/${entry.id}/retry`, { key: org.key });
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe(6006);
      expect(again.body.error.message).toContain(retry.body.job_id);
      const marked = await api('GET', `/v1/dlq/${entry.id}`, { key: org.key });
      expect(marked.body).toMatchObject({ retried_job_id: retry.body.job_id });
      expect(marked.body.retried_by).toContain(org.userId);
      const audit = await api('GET', '/v1/audit-logs?action=dlq.retried', { token: org.token });
      expect(audit.body.logs.map((l: { resource_id: string }) => l.resource_id)).toContain(entry.id);
    } finally {
      healthy = false;
    }
  });

  it('filters and paginates the list', async () => {
    const { api } = stack;
    const own = await tenant(api, 'dlq-paging');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const submit = await api('POST', '/v1/jobs', { key: own.key, body: { topic: flakyTopic, input: { n: i } } });
      await waitForState(api, own.key, submit.body.job_id, (s) => s === 'FAILED');
      ids.push(submit.body.job_id);
    }
    await eventually(async () => {
      const list = await api('GET', '/v1/dlq', { key: own.key });
      return list.body.entries.length === 3 ? true : undefined;
    }, 'three DLQ entries');
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: ApiResponse = await api('GET', `/v1/dlq?per_page=2${cursor ? `&cursor=${cursor}` : ''}`, {
        key: own.key,
      });
      seen.push(...page.body.entries.map((e: { job_id: string }) => e.job_id));
      cursor = page.body.pagination.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    expect((await api('GET', '/v1/dlq?retried=true', { key: own.key })).body.entries).toEqual([]);
    expect((await api('GET', '/v1/dlq?reason=fatal&retried=false', { key: own.key })).body.entries).toHaveLength(3);
    expect((await api('GET', `/v1/dlq?topic=${flakyTopic}`, { key: own.key })).body.entries).toHaveLength(3);
    expect((await api('GET', '/v1/dlq?reason=timeout', { key: own.key })).body.entries).toEqual([]);
  });

  it('validates ids, filters and permissions', async () => {
    const { api } = stack;
    const cases: Array<[string, string, number, number]> = [
      ['GET', '/v1/dlq/abc', 400, 3001],
      ['GET', '/v1/dlq/0', 400, 3001],
      ['GET', '/v1/dlq/..%2F1', 400, 3001],
      ['POST', '/v1/dlq/1%3B%20DROP/retry', 400, 3001],
      ['GET', '/v1/dlq/999999999', 404, 1011],
      ['POST', '/v1/dlq/999999999/retry', 404, 1011],
      ['GET', '/v1/dlq?per_page=500', 400, 3001],
      ['GET', '/v1/dlq?retried=maybe', 400, 3001],
      ['GET', '/v1/dlq?cursor=%%%', 400, 3001],
    ];
    for (const [method, path, status, code] of cases) {
      const res = await api(method, path, { key: org.key });
      expect(res.status, path).toBe(status);
      expect(res.body.error.code, path).toBe(code);
    }
    const viewer = (await createKey(api, org.token, { role: 'viewer' })).key;
    expect((await api('GET', '/v1/dlq', { key: viewer })).status).toBe(200);
    const denied = await api('POST', '/v1/dlq/1/retry', { key: viewer });
    expect(denied.status).toBe(403);
  });
});
