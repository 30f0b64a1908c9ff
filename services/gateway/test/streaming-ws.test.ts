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
let org: Awaited<ReturnType<typeof tenant>>;
let echoTopic: string;

type Frame = [string | null, string | null, string, string, Record<string, unknown>];

beforeAll(async () => {
  stack = await startJobsStack();
  org = await tenant(stack.api, 'ws');
  echoTopic = topic();
  await stack.worker(echoTopic, async (input: unknown, ctx) => {
    ctx.progress(40, 'working');
    return { echo: input };
  });
});
afterAll(async () => {
  await stack?.stop();
});

const jobEvents = (frames: unknown[][], jobId: string) =>
  (frames as Frame[])
    .filter((f) => f[3] === 'job_event' && f[4].job_id === jobId)
    .map((f) => f[4] as { kind: string; state: string; seq: number; replayed: boolean; cursor: string });

describe('WebSocket /ws/v1 (Phoenix Channels v2)', () => {
  it('pushes a REST-submitted job’s state and progress events on jobs:* and replays them on jobs:<id>', async () => {
    const client = await connectPhoenix(stack.gw.url, org.key);
    try {
      const joined = await client.join('jobs:*');
      expect(joined).toEqual({ status: 'ok', response: { replayed: 0, truncated: false } });
      const submit = await stack.api('POST', '/v1/jobs', { key: org.key, body: { topic: echoTopic, input: 'hi' } });
      const jobId: string = submit.body.job_id;
      await client.waitFor(
        (f) =>
          f[3] === 'job_event' &&
          (f[4] as { job_id?: string; state?: string }).job_id === jobId &&
          (f[4] as { state: string }).state === 'SUCCEEDED',
        'the SUCCEEDED event',
      );
      const live = jobEvents(client.frames, jobId);
      const transitions = live.filter((e) => e.kind === 'transition');
      expect(transitions.map((e) => e.state)).toEqual(['PENDING', 'SCHEDULED', 'DISPATCHED', 'RUNNING', 'SUCCEEDED']);
      // seq is the job row's version: strictly increasing, with gaps when the row changed without a transition
      // (e.g. a wait for a worker's first heartbeat under load).
      const seqs = transitions.map((e) => e.seq);
      expect(seqs[0]).toBe(1);
      expect(seqs.every((n, i) => i === 0 || n > seqs[i - 1]!)).toBe(true);
      expect(live.some((e) => e.kind === 'progress')).toBe(true);
      expect(live.every((e) => e.replayed === false && e.cursor === `${jobId}:${e.seq}`)).toBe(true);
      // Frames carry the channel's join_ref and no ref.
      const frame = (client.frames as Frame[]).find((f) => f[3] === 'job_event');
      expect(frame?.[0]).toBe('1');
      expect(frame?.[1]).toBeNull();
      expect(frame?.[2]).toBe('jobs:*');

      // A finished job: joining with cursor 0 replays its stored transitions, with its current state in the reply.
      const replay = await client.join(`jobs:${jobId}`, { cursor: 0 });
      expect(replay.status).toBe('ok');
      expect(replay.response).toMatchObject({
        replayed: 5,
        truncated: false,
        job: { job_id: jobId, state: 'SUCCEEDED' },
      });
      await client.waitFor(
        (f) => f[2] === `jobs:${jobId}` && (f[4] as { state?: string }).state === 'SUCCEEDED',
        'the replayed SUCCEEDED event',
      );
      const replayed = (client.frames as Frame[])
        .filter((f) => f[2] === `jobs:${jobId}` && f[3] === 'job_event')
        .map((f) => f[4] as { state: string; replayed: boolean });
      expect(replayed.map((e) => e.state)).toEqual(['PENDING', 'SCHEDULED', 'DISPATCHED', 'RUNNING', 'SUCCEEDED']);
      expect(replayed.every((e) => e.replayed)).toBe(true);

      // Resume from the middle: only what came after the third transition (seqs are row versions, with gaps).
      const resumed = await client.join(`jobs:${jobId}`, { cursor: `${jobId}:${seqs[2]}` });
      expect(resumed.response).toMatchObject({ replayed: 2 });
    } finally {
      client.close();
    }
  });

  it('resumes jobs:* from a cursor: events missed while disconnected come first', async () => {
    const first = await connectPhoenix(stack.gw.url, org.key);
    await first.join('jobs:*');
    const a = await stack.api('POST', '/v1/jobs', { key: org.key, body: { topic: echoTopic, input: 'a' } });
    await first.waitFor(
      (f) =>
        (f[4] as { job_id?: string; state?: string }).job_id === a.body.job_id &&
        (f[4] as { state: string }).state === 'SUCCEEDED',
      'job a to finish',
    );
    const lastSeen = jobEvents(first.frames, a.body.job_id)
      .filter((e) => e.kind === 'transition')
      .at(-1)!;
    first.close();
    await first.closed;
    // Missed while away.
    const b = await stack.api('POST', '/v1/jobs', { key: org.key, body: { topic: echoTopic, input: 'b' } });
    await waitForState(stack.api, org.key, b.body.job_id, (s) => s === 'SUCCEEDED');
    const second = await connectPhoenix(stack.gw.url, org.key);
    try {
      const joined = await second.join('jobs:*', { cursor: lastSeen.cursor });
      expect(joined.status).toBe('ok');
      await second.waitFor(
        (f) =>
          (f[4] as { job_id?: string; state?: string }).job_id === b.body.job_id &&
          (f[4] as { state: string }).state === 'SUCCEEDED',
        'the replayed events of job b',
      );
      expect(jobEvents(second.frames, a.body.job_id)).toEqual([]);
      expect(jobEvents(second.frames, b.body.job_id).map((e) => e.state)).toEqual([
        'PENDING',
        'SCHEDULED',
        'DISPATCHED',
        'RUNNING',
        'SUCCEEDED',
      ]);
      const bad = await second.join('jobs:*', { cursor: 'nope' });
      expect(bad.status).toBe('error');
      expect(bad.response.code).toBe(3001);
    } finally {
      second.close();
    }
  });

  it('answers heartbeats, refuses unknown topics and events, and survives malformed frames', async () => {
    const client = await connectPhoenix(stack.gw.url, org.key);
    try {
      expect(await client.reply(client.push('phoenix', 'heartbeat'))).toEqual({ status: 'ok', response: {} });
      client.socket.send('not json');
      client.socket.send(JSON.stringify({ topic: 'x' }));
      await client.waitFor((f) => f[2] === 'phoenix' && f[3] === 'phx_error', 'a phx_error for the bad frame');
      expect(await client.reply(client.push('phoenix', 'heartbeat'))).toMatchObject({ status: 'ok' });
      const unknown = await client.join('rooms:lobby');
      expect(unknown).toMatchObject({ status: 'error', response: { code: 3001 } });
      const unmatched = await client.reply(client.push('jobs:*', 'ping'));
      expect(unmatched).toEqual({ status: 'error', response: { reason: 'unmatched topic' } });
      await client.join('jobs:*');
      const unsupported = await client.reply(client.push('jobs:*', 'shout', {}, '9'));
      expect(unsupported).toMatchObject({ status: 'error', response: { code: 3001 } });
      const leave = client.push('jobs:*', 'phx_leave', {}, '9');
      expect(await client.reply(leave)).toEqual({ status: 'ok', response: {} });
      await client.waitFor((f) => f[2] === 'jobs:*' && f[3] === 'phx_close', 'phx_close after leave');
    } finally {
      client.close();
    }
  });

  it('refuses the upgrade without a valid credential (HTTP 401, no socket)', async () => {
    await expect(connectPhoenix(stack.gw.url, undefined)).rejects.toThrow('401');
    await expect(connectPhoenix(stack.gw.url, 'cacp_live_unknownkey0000000000000000')).rejects.toThrow('401');
    await expect(connectPhoenix(stack.gw.url, 'not.a.jwt')).rejects.toThrow('401');
    const plain = await fetch(`${stack.gw.url}/ws/v1?token=${org.key}`);
    expect(plain.status).toBe(400);
  });

  it('accepts a JWT as the token too', async () => {
    const client = await connectPhoenix(stack.gw.url, org.token);
    try {
      expect((await client.join('jobs:*')).status).toBe('ok');
    } finally {
      client.close();
    }
  });

  it('lets only the agent itself join agent:<id>, and counts it as connected meanwhile', async () => {
    const { api } = stack;
    const agentId = `ws-agent-${Date.now()}`;
    const reg = await api('POST', '/v1/agents', { token: org.token, body: { agent_id: agentId } });
    expect(reg.status).toBe(201);
    const agentKey: string = reg.body.api_key;

    const user = await connectPhoenix(stack.gw.url, org.key);
    const refused = await user.join(`agent:${agentId}`);
    expect(refused).toMatchObject({ status: 'error', response: { code: 4003 } });
    user.close();

    expect((await api('GET', `/v1/agents/${agentId}`, { key: org.key })).body.availability).toBe('offline');
    const agent = await connectPhoenix(stack.gw.url, agentKey);
    try {
      const other = await agent.join('agent:someone-else');
      expect(other).toMatchObject({ status: 'error', response: { code: 4003 } });
      const ok = await agent.join(`agent:${agentId}`);
      expect(ok).toEqual({ status: 'ok', response: { agent_id: agentId, worker_id: agentId } });
      expect((await api('GET', `/v1/agents/${agentId}`, { key: org.key })).body.availability).toBe('online');
      const workers = await api('GET', '/v1/workers', { key: org.key });
      expect(workers.body.workers).toContainEqual(
        expect.objectContaining({ worker_id: agentId, agent_ids: [agentId], connected: true, heartbeat: null }),
      );
      expect(await agent.reply(agent.push(`agent:${agentId}`, 'heartbeat', {}, '2'))).toMatchObject({ status: 'ok' });
    } finally {
      agent.close();
      await agent.closed;
    }
    await eventually(
      async () =>
        (await api('GET', `/v1/agents/${agentId}`, { key: org.key })).body.availability === 'offline'
          ? true
          : undefined,
      'the agent to go offline after disconnecting',
    );
  });

  it('closes a live socket (4001) once its API key is revoked; a join with a dead credential is refused', async () => {
    const { api } = stack;
    const key = await createKey(api, org.token, { name: 'revoke me' });
    const client = await connectPhoenix(stack.gw.url, key.key);
    expect((await client.join('jobs:*')).status).toBe('ok');
    expect((await api('DELETE', `/v1/api-keys/${key.id}`, { token: org.token })).status).toBe(204);
    expect((await client.closed).code).toBe(4001);

    // Expired behind the gateway's back (no announcement), on a replica without the credential cache: the next
    // join re-checks the credential and says why.
    const uncached = await stack.gw.startReplica({ credentialCacheMs: 0 });
    const expiring = await createKey(api, org.token, { name: 'expire me' });
    const other = await connectPhoenix(uncached.url, expiring.key);
    expect((await other.join('jobs:*')).status).toBe('ok');
    await stack.gw.store.db
      .updateTable('api_keys')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', expiring.id)
      .execute();
    const refused = await other.join(`jobs:${'0'.repeat(8)}`);
    expect(refused).toMatchObject({ status: 'error', response: { code: 5002 } });
    expect((await other.closed).code).toBe(4001);
  });

  it('closes a live socket on another replica (4001) as soon as its API key is revoked, without waiting for a join', async () => {
    const { api } = stack;
    const key = await createKey(api, org.token, { name: 'revoke me too' });
    const replica = await stack.gw.startReplica();
    const client = await connectPhoenix(replica.url, key.key);
    expect((await client.join('jobs:*')).status).toBe('ok');
    const started = Date.now();
    expect((await api('DELETE', `/v1/api-keys/${key.id}`, { token: org.token })).status).toBe(204);
    const closed = await Promise.race([
      client.closed,
      new Promise<{ code: number }>((r) => setTimeout(() => r({ code: -1 }), 10_000)),
    ]);
    expect(closed.code).toBe(4001);
    // The periodic re-check is a minute away: the announcement did it.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('needs the jobs:read scope for job channels', async () => {
    const scoped = await createKey(stack.api, org.token, { scopes: ['agents:read'] });
    const client = await connectPhoenix(stack.gw.url, scoped.key);
    try {
      expect(await client.join('jobs:*')).toMatchObject({ status: 'error', response: { code: 4003 } });
    } finally {
      client.close();
    }
  });

  it('closes sockets (1001) and SSE streams (event: close) on shutdown, so the replica drains', async () => {
    const replica = await stack.gw.startReplica();
    const submit = await stack.api('POST', '/v1/jobs', { key: org.key, body: { topic: topic() } });
    const client = await connectPhoenix(replica.url, org.key);
    expect((await client.join('jobs:*')).status).toBe('ok');
    const sse = readSse(`${replica.url}/v1/jobs/${submit.body.job_id}/stream`, { 'x-api-key': org.key });
    await eventually(
      async () => (replica.context.streams.stats().sse === 1 ? true : undefined),
      'the SSE stream to open',
    );
    const started = Date.now();
    await replica.stop();
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await client.closed).code).toBe(1001);
    const stream = await sse;
    expect(stream.messages.at(-1)).toMatchObject({ event: 'close' });
  });
});
