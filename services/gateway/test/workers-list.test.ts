import { uniqueName } from '@capstan/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey } from './api-client.js';
import { eventually, type JobsStack, startJobsStack, tenant, topic } from './jobs-stack.js';

let stack: JobsStack;
let org: Awaited<ReturnType<typeof tenant>>;
const ids = { a: uniqueName('wa'), b: uniqueName('wb'), pool: uniqueName('pool') };

beforeAll(async () => {
  stack = await startJobsStack();
  org = await tenant(stack.api, 'workers');
  const tp = topic();
  for (const workerId of Object.values(ids)) await stack.worker(tp, async () => 'ok', { workerId });
  // Two agents of the organization on worker a, one on worker b; the pool worker is nobody's agent.
  for (const [agentId, workerId] of [
    ['agent-a1', ids.a],
    ['agent-a2', ids.a],
    ['agent-b', ids.b],
  ]) {
    const res = await stack.api('POST', '/v1/agents', {
      token: org.token,
      body: { agent_id: agentId, worker_id: workerId },
    });
    expect(res.status).toBe(201);
  }
});
afterAll(async () => {
  await stack?.stop();
});

describe('GET /v1/workers', () => {
  it('lists the live workers the organization’s agents run on, with their latest heartbeat', async () => {
    const res = await eventually(async () => {
      const r = await stack.api('GET', '/v1/workers', { key: org.key });
      return r.body.workers?.length === 2 ? r : undefined;
    }, 'both workers to be live at the gateway');
    expect(res.body.workers.map((w: { worker_id: string }) => w.worker_id)).toEqual([ids.a, ids.b].sort());
    const a = res.body.workers.find((w: { worker_id: string }) => w.worker_id === ids.a);
    expect(a).toMatchObject({ agent_ids: ['agent-a1', 'agent-a2'], availability: 'online', connected: false });
    expect(a.heartbeat).toMatchObject({ active_jobs: 0, max_parallel_jobs: expect.any(Number) });
    expect(Date.parse(a.heartbeat.last_seen_at)).toBeGreaterThan(Date.now() - 5000);
    expect(res.text).not.toContain(ids.pool);

    const page = await stack.api('GET', '/v1/workers?per_page=1', { key: org.key });
    expect(page.body.workers).toHaveLength(1);
    const next = await stack.api('GET', `/v1/workers?per_page=1&cursor=${page.body.pagination.next_cursor}`, {
      key: org.key,
    });
    expect(next.body.workers.map((w: { worker_id: string }) => w.worker_id)).toEqual([[ids.a, ids.b].sort()[1]]);
    expect(next.body.pagination.has_more).toBe(false);
  });

  it('shows another organization none of them, and needs workers:read', async () => {
    const other = await tenant(stack.api, 'workers-other');
    const res = await stack.api('GET', '/v1/workers', { key: other.key });
    expect(res.status).toBe(200);
    expect(res.body.workers).toEqual([]);
    const scoped = await createKey(stack.api, org.token, { scopes: ['jobs:read'] });
    expect((await stack.api('GET', '/v1/workers', { key: scoped.key })).status).toBe(403);
    expect((await stack.api('GET', '/v1/workers?per_page=1000', { key: org.key })).status).toBe(400);
  });
});
