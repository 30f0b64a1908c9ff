import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiCall, apiClient, createKey, registerOrg } from './api-client.js';
import { startTestGateway, type TestGateway } from './start-test-gateway.js';

let gw: TestGateway;
let api: ApiCall;
beforeAll(async () => {
  gw = await startTestGateway({ keyUsageFlushMs: 200 });
  api = apiClient(gw.url);
});
afterAll(async () => {
  await gw?.stop();
});

describe('/v1/api-keys', () => {
  it('shows a new key once, then only masked; the key authenticates by header and bearer', async () => {
    const org = await registerOrg(api, 'keys');
    const created = await api('POST', '/v1/api-keys', {
      token: org.token,
      body: { name: 'Production Agent Key', scopes: ['agents:read', 'api_keys:read'], expires_in_days: 30 },
    });
    expect(created.status).toBe(201);
    const key = created.body.api_key;
    expect(key.key).toMatch(/^cacp_live_[A-Za-z0-9_-]{43}$/);
    expect(key.prefix).toBe(key.key.slice(0, 16));
    expect(key).toMatchObject({
      name: 'Production Agent Key',
      scopes: ['agents:read', 'api_keys:read'],
      role: 'owner',
    });
    expect(new Date(key.expires_at).getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);

    const list = await api('GET', '/v1/api-keys', { token: org.token });
    expect(list.status).toBe(200);
    expect(list.body.total).toBe(1);
    expect(list.text).not.toContain(key.key);
    expect(list.body.api_keys[0]).toMatchObject({ id: key.id, prefix: key.prefix, revoked_at: null });
    expect(list.body.api_keys[0].masked_key).toMatch(new RegExp(`^${key.prefix}\\*{37}$`));
    const one = await api('GET', `/v1/api-keys/${key.id}`, { token: org.token });
    expect(one.status).toBe(200);
    expect(one.text).not.toContain(key.key);
    expect(one.body).toMatchObject({ id: key.id, masked_key: list.body.api_keys[0].masked_key });

    expect((await api('GET', '/v1/agents', { key: key.key })).status).toBe(200);
    expect((await api('GET', '/v1/agents', { token: key.key })).status).toBe(200);
    const both = await api('GET', '/v1/agents', { key: key.key, token: org.token });
    expect(both.status).toBe(401);
    expect(both.body.error.message).toContain('send one');
  });

  it('revokes immediately, on this replica and on another one', async () => {
    const org = await registerOrg(api, 'revoke');
    const key = await createKey(api, org.token);
    const replica = await gw.startReplica();
    const replicaApi = apiClient(replica.url);
    expect((await replicaApi('GET', '/v1/agents', { key: key.key })).status).toBe(200);
    const revoke = await api('DELETE', `/v1/api-keys/${key.id}`, { token: org.token });
    expect(revoke.status).toBe(204);
    expect(revoke.text).toBe('');
    for (const call of [api, replicaApi]) {
      const res = await call('GET', '/v1/agents', { key: key.key });
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe(5002);
    }
    expect((await api('DELETE', `/v1/api-keys/${key.id}`, { token: org.token })).status).toBe(204);
    const list = await api('GET', '/v1/api-keys', { token: org.token });
    expect(list.body.api_keys).toHaveLength(0);
    const withRevoked = await api('GET', '/v1/api-keys?include_revoked=true', { token: org.token });
    expect(withRevoked.body.api_keys[0].revoked_at).not.toBeNull();
  });

  it('reuses a verified key row for the credential cache TTL (a hand edit in the database shows after it); 0 reads every request', async () => {
    const org = await registerOrg(api, 'cache');
    const key = await createKey(api, org.token);
    const cached = apiClient((await gw.startReplica({ credentialCacheMs: 2000 })).url);
    const uncached = apiClient((await gw.startReplica({ credentialCacheMs: 0 })).url);
    expect((await cached('GET', '/v1/agents', { key: key.key })).status).toBe(200);
    expect((await uncached('GET', '/v1/agents', { key: key.key })).status).toBe(200);
    // Revoked behind the gateway's back: no replica is told.
    await gw.store.db.updateTable('api_keys').set({ revoked_at: new Date() }).where('id', '=', key.id).execute();
    expect((await uncached('GET', '/v1/agents', { key: key.key })).status).toBe(401);
    expect((await cached('GET', '/v1/agents', { key: key.key })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 2100));
    const after = await cached('GET', '/v1/agents', { key: key.key });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe(5002);
  });

  it('rejects expired keys with 5002', async () => {
    const org = await registerOrg(api, 'expired');
    const key = await createKey(api, org.token);
    await gw.store.db
      .updateTable('api_keys')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', key.id)
      .execute();
    const res = await api('GET', '/v1/agents', { key: key.key });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe(5002);
  });

  it('records last_used_at in batches, not per request', async () => {
    const org = await registerOrg(api, 'usage');
    const key = await createKey(api, org.token);
    expect((await api('GET', `/v1/api-keys/${key.id}`, { token: org.token })).body.last_used_at).toBeNull();
    for (let i = 0; i < 5; i++) await api('GET', '/v1/agents', { key: key.key });
    await expect
      .poll(async () => (await api('GET', `/v1/api-keys/${key.id}`, { token: org.token })).body.last_used_at, {
        timeout: 5000,
      })
      .not.toBeNull();
  });

  it('enforces scopes: a scoped key cannot use other scopes nor mint wider keys', async () => {
    const org = await registerOrg(api, 'scopes');
    const readOnly = await createKey(api, org.token, { scopes: ['agents:read'] });
    expect((await api('GET', '/v1/agents', { key: readOnly.key })).status).toBe(200);
    const denied = await api('GET', '/v1/api-keys', { key: readOnly.key });
    expect(denied.status).toBe(403);
    expect(denied.body.error).toMatchObject({ code: 4003, message: expect.stringContaining('api_keys:read') });

    const minter = await createKey(api, org.token, { scopes: ['api_keys:write', 'agents:read'] });
    const wider = await api('POST', '/v1/api-keys', { key: minter.key, body: { name: 'w', scopes: ['audit:read'] } });
    expect(wider.status).toBe(403);
    const inherited = await api('POST', '/v1/api-keys', { key: minter.key, body: { name: 'n' } });
    expect(inherited.status).toBe(201);
    expect(inherited.body.api_key.scopes).toEqual(['api_keys:write', 'agents:read']);
    const unknownScope = await api('POST', '/v1/api-keys', { token: org.token, body: { name: 'u', scopes: ['root'] } });
    expect(unknownScope.status).toBe(400);
    expect(unknownScope.body.error.details[0]).toMatchObject({
      field: 'scopes.0',
      message: expect.stringContaining('agents:read'),
    });
  });

  it('caps a key’s role at its creator’s', async () => {
    const org = await registerOrg(api, 'rolecap');
    const dev = await createKey(api, org.token, { role: 'developer' });
    const up = await api('POST', '/v1/api-keys', { key: dev.key, body: { name: 'up', role: 'admin' } });
    expect(up.status).toBe(403);
    expect(up.body.error.details[0].field).toBe('role');
    const down = await api('POST', '/v1/api-keys', { key: dev.key, body: { name: 'down', role: 'viewer' } });
    expect(down.body.api_key.role).toBe('viewer');
  });

  it('lets admins see any key of the organization and others only their own', async () => {
    const org = await registerOrg(api, 'visibility');
    const ownerKey = await createKey(api, org.token, { name: 'owner key' });
    const admin = await createKey(api, org.token, { role: 'admin' });
    const viewer = await createKey(api, org.token, { role: 'viewer' });
    // Keys made with a user's key belong to that user too; an agent's keys are its own.
    const agent = await api('POST', '/v1/agents', { token: org.token, body: { agent_id: 'vis-agent' } });
    const agentKey = agent.body.api_key as string;
    expect((await api('GET', `/v1/api-keys/${ownerKey.id}`, { key: admin.key })).status).toBe(200);
    expect((await api('GET', `/v1/api-keys/${ownerKey.id}`, { key: viewer.key })).status).toBe(200);
    const agentView = await api('GET', `/v1/api-keys/${ownerKey.id}`, { key: agentKey });
    expect(agentView.status).toBe(404);
    expect(agentView.body.error.code).toBe(2001);
    const agentList = await api('GET', '/v1/api-keys', { key: agentKey });
    expect(agentList.body.api_keys.map((k: { id: string }) => k.id)).toEqual([agent.body.api_key_id]);
  });

  it('paginates with a cursor and rejects oversized pages and bad cursors', async () => {
    const org = await registerOrg(api, 'pages');
    for (let i = 0; i < 5; i++) await createKey(api, org.token, { name: `k${i}` });
    const first = await api('GET', '/v1/api-keys?per_page=2', { token: org.token });
    expect(first.body.api_keys).toHaveLength(2);
    expect(first.body.pagination).toMatchObject({ per_page: 2, has_more: true });
    const ids = first.body.api_keys.map((k: { id: string }) => k.id);
    let cursor = first.body.pagination.next_cursor;
    while (cursor) {
      const next = await api('GET', `/v1/api-keys?per_page=2&cursor=${cursor}`, { token: org.token });
      ids.push(...next.body.api_keys.map((k: { id: string }) => k.id));
      cursor = next.body.pagination.next_cursor;
    }
    expect(new Set(ids).size).toBe(5);
    const huge = await api('GET', '/v1/api-keys?per_page=100000', { token: org.token });
    expect(huge.status).toBe(400);
    expect(huge.body.error.details[0]).toMatchObject({ field: 'per_page', location: 'query' });
    const bad = await api('GET', '/v1/api-keys?cursor=Zm9v', { token: org.token });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe('cursor');
  });
});
