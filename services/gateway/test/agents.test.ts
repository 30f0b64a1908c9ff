import { testServices } from '@capstan/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiCall, apiClient, createKey, registerOrg } from './api-client.js';
import { heartbeatPublisher } from './heartbeats.js';
import { startTestGateway, type TestGateway } from './start-test-gateway.js';

let gw: TestGateway;
let api: ApiCall;
let beats: Awaited<ReturnType<typeof heartbeatPublisher>>;
beforeAll(async () => {
  gw = await startTestGateway({ presenceTtlMs: 1500 });
  api = apiClient(gw.url);
  beats = await heartbeatPublisher(testServices().natsUrl);
});
afterAll(async () => {
  await beats?.close();
  await gw?.stop();
});

const unique = (name: string) => `${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

describe('POST /v1/agents (registration)', () => {
  it('self-registers: new organization, owner agent, long-lived key that works at once', async () => {
    const agentId = unique('writer');
    const res = await api('POST', '/v1/agents', {
      body: { agent_id: agentId, capabilities: ['content_generation', 'summarization'], framework: 'langchain' },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ agent_id: agentId, registered: true });
    expect(res.body.api_key).toMatch(/^cacp_live_/);
    expect(res.body.organization_id).toMatch(/^org_[0-9a-f]{32}$/);
    const me = await api('GET', `/v1/agents/${agentId}`, { key: res.body.api_key });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      agent_id: agentId,
      organization_id: res.body.organization_id,
      framework: 'langchain',
      capabilities: ['content_generation', 'summarization'],
      worker_id: agentId,
      availability: 'offline',
      status: 'offline',
    });
    const logs = await api('GET', '/v1/audit-logs?action=agent.registered', { key: res.body.api_key });
    expect(logs.status).toBe(200);
    expect(logs.body.logs[0]).toMatchObject({ actor_type: 'agent', actor_id: agentId, resource_id: agentId });
  });

  it('joins the caller’s organization with a credential; refuses joining another one or without one', async () => {
    const org = await registerOrg(api, 'join');
    const other = await registerOrg(api, 'join-other');
    const joined = await api('POST', '/v1/agents', { token: org.token, body: { agent_id: 'planner-1' } });
    expect(joined.status).toBe(201);
    expect(joined.body.organization_id).toBe(org.organizationId);
    const foreign = await api('POST', '/v1/agents', {
      token: org.token,
      body: { agent_id: 'planner-2', organization_id: other.organizationId },
    });
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe(2001);
    const anonymous = await api('POST', '/v1/agents', {
      body: { agent_id: 'planner-3', organization_id: org.organizationId },
    });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe(5001);
    const viaHeader = await api('POST', '/v1/agents', {
      body: { agent_id: 'planner-3' },
      headers: { 'x-organization-id': org.organizationId },
    });
    expect(viaHeader.status).toBe(401);
    const duplicate = await api('POST', '/v1/agents', { token: org.token, body: { agent_id: 'planner-1' } });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.error).toMatchObject({ code: 1005, details: [{ field: 'agent_id' }] });
    const viewer = await createKey(api, org.token, { role: 'viewer' });
    const byViewer = await api('POST', '/v1/agents', { key: viewer.key, body: { agent_id: 'planner-4' } });
    expect(byViewer.status).toBe(403);
    expect(byViewer.body.error.code).toBe(4003);
  });

  it('validates ids, capabilities and metadata size', async () => {
    const res = await api('POST', '/v1/agents', {
      body: { agent_id: '../etc/passwd', capabilities: ['ok', 'not ok!'], metadata: { blob: 'x'.repeat(20_000) } },
    });
    expect(res.status).toBe(400);
    const fields = res.body.error.details.map((d: { field: string }) => d.field).sort();
    expect(fields).toEqual(['agent_id', 'capabilities.1', 'metadata']);
    const reserved = await api('POST', '/v1/agents', { body: { agent_id: 'discover' } });
    expect(reserved.status).toBe(400);
  });

  it('can be switched off (403, 1006) while authenticated registration keeps working', async () => {
    const closed = await gw.startReplica({ selfRegistration: false });
    const closedApi = apiClient(closed.url);
    const res = await closedApi('POST', '/v1/agents', { body: { agent_id: unique('nope') } });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe(1006);
    const org = await registerOrg(closedApi, 'closed');
    expect((await closedApi('POST', '/v1/agents', { token: org.token, body: { agent_id: 'member' } })).status).toBe(
      201,
    );
  });
});

describe('listing, query, availability from heartbeats', () => {
  it('filters by capability, framework, status and availability; availability follows sys.heartbeat', async () => {
    const org = await registerOrg(api, 'list');
    const w1 = unique('w1');
    const w2 = unique('w2');
    const register = (agent_id: string, body: Record<string, unknown>) =>
      api('POST', '/v1/agents', { token: org.token, body: { agent_id, ...body } });
    expect(
      (await register('alpha', { capabilities: ['summarization'], framework: 'langchain', worker_id: w1 })).status,
    ).toBe(201);
    expect(
      (await register('beta', { capabilities: ['summarization', 'translation'], framework: 'autogen', worker_id: w2 }))
        .status,
    ).toBe(201);
    expect((await register('gamma', { capabilities: ['translation'], framework: 'langchain' })).status).toBe(201);

    const ids = async (query: string) =>
      ((await api('GET', `/v1/agents${query}`, { token: org.token })).body.agents as { agent_id: string }[]).map(
        (a) => a.agent_id,
      );
    expect(await ids('')).toEqual(['alpha', 'beta', 'gamma']);
    expect(await ids('?capability=summarization')).toEqual(['alpha', 'beta']);
    expect(await ids('?framework=langchain')).toEqual(['alpha', 'gamma']);
    expect(await ids('?status=online')).toEqual([]);
    expect(await ids(`?organization_id=org_${'0'.repeat(32)}`)).toEqual([]);

    await beats.beat(w1);
    await beats.beat(w2, { activeJobs: 4, maxParallelJobs: 4 });
    await expect.poll(() => ids('?status=online')).toEqual(['alpha', 'beta']);
    expect(await ids('?availability=online')).toEqual(['alpha']);
    expect(await ids('?availability=busy')).toEqual(['beta']);
    expect(await ids('?availability=offline')).toEqual(['gamma']);
    expect(await ids('?status=offline')).toEqual(['gamma']);
    const alpha = await api('GET', '/v1/agents/alpha', { token: org.token });
    expect(alpha.body).toMatchObject({ availability: 'online', status: 'online' });

    const query = await api('GET', '/v1/agents/query?capability=summarization&availability=online', {
      token: org.token,
    });
    expect(query.status).toBe(200);
    expect(query.body).toMatchObject({ total: 1, agents: [{ agent_id: 'alpha' }] });
    const missing = await api('GET', '/v1/agents/query', { token: org.token });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatchObject({ code: 3002, details: [{ field: 'capability', location: 'query' }] });

    // Malformed heartbeats are ignored, and presence expires after the TTL without beats.
    beats.raw(new Uint8Array([1, 2, 3]));
    await expect.poll(() => ids('?status=online'), { timeout: 5000 }).toEqual([]);

    const page = await api('GET', '/v1/agents?per_page=2', { token: org.token });
    expect(page.body.agents).toHaveLength(2);
    const rest = await api('GET', `/v1/agents?per_page=2&cursor=${page.body.pagination.next_cursor}`, {
      token: org.token,
    });
    expect(rest.body.agents.map((a: { agent_id: string }) => a.agent_id)).toEqual(['gamma']);
    expect(rest.body.pagination).toMatchObject({ has_more: false, next_cursor: null });
  });
});

describe('POST /v1/agents/discover', () => {
  it('ranks agents by BM25 over capabilities and metadata', async () => {
    const org = await registerOrg(api, 'discover');
    const agents = [
      {
        agent_id: 'writer-agent-1',
        capabilities: ['release_notes', 'drafting', 'changelog'],
        agent_type: 'writer',
        metadata: { description: 'Writes release notes and changelogs from merged pull requests' },
      },
      {
        agent_id: 'reviewer-agent-1',
        capabilities: ['code_review'],
        agent_type: 'reviewer',
        metadata: { description: 'Reviews pull requests for bugs' },
      },
      {
        agent_id: 'translator-1',
        capabilities: ['translation'],
        agent_type: 'translator',
        metadata: { languages: ['french', 'german'] },
      },
    ];
    for (const body of agents) expect((await api('POST', '/v1/agents', { token: org.token, body })).status).toBe(201);
    const res = await api('POST', '/v1/agents/discover', {
      token: org.token,
      body: { query: 'agent that can write release notes', limit: 3 },
    });
    expect(res.status).toBe(200);
    expect(res.body.query).toBe('agent that can write release notes');
    expect(res.body.agents[0]).toMatchObject({ agent_id: 'writer-agent-1', score: 1, availability: 'offline' });
    expect(res.body.agents[0].matched_terms).toEqual(expect.arrayContaining(['release', 'notes']));
    expect(res.body.agents.map((a: { agent_id: string }) => a.agent_id)).not.toContain('translator-1');
    const german = await api('POST', '/v1/agents/discover', {
      token: org.token,
      body: { query: 'german translation' },
    });
    expect(german.body.agents[0].agent_id).toBe('translator-1');
    const typo = await api('POST', '/v1/agents/discover', { token: org.token, body: { query: 'reviw pull requsts' } });
    expect(typo.body.agents[0].agent_id).toBe('reviewer-agent-1');
    const nothing = await api('POST', '/v1/agents/discover', {
      token: org.token,
      body: { query: 'quantum chemistry' },
    });
    expect(nothing.body).toMatchObject({ agents: [], total: 0 });
    const missing = await api('POST', '/v1/agents/discover', { token: org.token, body: { limit: 3 } });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatchObject({ code: 3002, message: 'Missing required fields: query' });
    const tooMany = await api('POST', '/v1/agents/discover', { token: org.token, body: { query: 'x', limit: 1000 } });
    expect(tooMany.status).toBe(400);
  });
});

describe('DELETE /v1/agents/:id and agent API keys', () => {
  it('needs admin to delete; deleting revokes the agent’s keys', async () => {
    const org = await registerOrg(api, 'delete');
    const reg = await api('POST', '/v1/agents', { token: org.token, body: { agent_id: 'doomed' } });
    const developer = await createKey(api, org.token, { role: 'developer' });
    const admin = await createKey(api, org.token, { role: 'admin' });
    const denied = await api('DELETE', '/v1/agents/doomed', { key: developer.key });
    expect(denied.status).toBe(403);
    expect(denied.body.error).toMatchObject({ code: 4003, message: expect.stringContaining('admin') });
    expect((await api('DELETE', '/v1/agents/doomed', { key: admin.key })).status).toBe(204);
    expect((await api('GET', '/v1/agents/doomed', { key: admin.key })).body.error.code).toBe(2001);
    expect((await api('GET', '/v1/agents', { key: reg.body.api_key })).status).toBe(401);
    expect((await api('DELETE', '/v1/agents/doomed', { key: admin.key })).status).toBe(404);
  });

  it('lets the agent (or an admin) list, mint and revoke its keys', async () => {
    const org = await registerOrg(api, 'agentkeys');
    const reg = await api('POST', '/v1/agents', { token: org.token, body: { agent_id: 'keyed' } });
    const agentKey = reg.body.api_key as string;
    const minted = await api('POST', '/v1/agents/keyed/api-keys', {
      key: agentKey,
      body: { name: 'Production Key', scopes: [] },
    });
    expect(minted.status).toBe(201);
    expect(minted.body).toMatchObject({ agent_id: 'keyed', name: 'Production Key' });
    const defaults = await api('POST', '/v1/agents/keyed/api-keys', { token: org.token });
    expect(defaults.status).toBe(201);
    expect(defaults.body.name).toBe('API Key');
    const list = await api('GET', '/v1/agents/keyed/api-keys', { key: minted.body.api_key });
    expect(list.status).toBe(200);
    expect(list.body.total).toBe(3);
    expect(list.text).not.toContain(minted.body.api_key);
    const entry = list.body.api_keys.find((k: { id: string }) => k.id === minted.body.key_id);
    expect(entry.key_prefix).toBe(minted.body.api_key.slice(5, 16));
    expect(entry.masked_key.startsWith(minted.body.api_key.slice(0, 16))).toBe(true);

    const other = await api('POST', '/v1/agents', { token: org.token, body: { agent_id: 'other' } });
    const foreign = await api('POST', '/v1/agents/keyed/api-keys', { key: other.body.api_key });
    expect(foreign.status).toBe(403);

    const revoke = await api('DELETE', `/v1/agents/keyed/api-keys/${minted.body.key_id}`, { key: agentKey });
    expect(revoke.status).toBe(204);
    expect((await api('GET', '/v1/agents', { key: minted.body.api_key })).status).toBe(401);
    const again = await api('DELETE', `/v1/agents/keyed/api-keys/${minted.body.key_id}`, { key: agentKey });
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe(5004);
    expect((await api('GET', '/v1/agents/ghost/api-keys', { token: org.token })).body.error.code).toBe(2001);
  });
});
