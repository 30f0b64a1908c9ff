import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiCall, apiClient, createKey, registerOrg } from './api-client.js';
import { startTestGateway, type TestGateway } from './start-test-gateway.js';

let gw: TestGateway;
let api: ApiCall;
let a: Awaited<ReturnType<typeof registerOrg>>;
let b: Awaited<ReturnType<typeof registerOrg>>;
let bAdminKey: string;
const ids = { userKey: '', agent: 'shared-name', agentKeyId: '', auditId: '' };

beforeAll(async () => {
  gw = await startTestGateway();
  api = apiClient(gw.url);
  a = await registerOrg(api, 'tenant-a');
  b = await registerOrg(api, 'tenant-b');
  bAdminKey = (await createKey(api, b.token, { role: 'admin' })).key;
  ids.userKey = (await createKey(api, a.token)).id;
  const agent = await api('POST', '/v1/agents', {
    token: a.token,
    body: { agent_id: ids.agent, capabilities: ['secret_skill'] },
  });
  ids.agentKeyId = agent.body.api_key_id;
  const logs = await api('GET', '/v1/audit-logs', { token: a.token });
  ids.auditId = logs.body.logs[0].id;
});
afterAll(async () => {
  await gw?.stop();
});

describe('tenant isolation', () => {
  // Every endpoint that takes an id, called by an owner (JWT) and an admin key of organization B on A's ids.
  const cases: Array<[string, () => string, number]> = [
    ['GET', () => `/v1/api-keys/${ids.userKey}`, 2001],
    ['DELETE', () => `/v1/api-keys/${ids.userKey}`, 2001],
    ['GET', () => `/v1/agents/${ids.agent}`, 2001],
    ['DELETE', () => `/v1/agents/${ids.agent}`, 2001],
    ['GET', () => `/v1/agents/${ids.agent}/api-keys`, 2001],
    ['POST', () => `/v1/agents/${ids.agent}/api-keys`, 2001],
    ['DELETE', () => `/v1/agents/${ids.agent}/api-keys/${ids.agentKeyId}`, 2001],
    ['GET', () => `/v1/audit-logs/${ids.auditId}`, 9001],
  ];

  for (const [method, path, code] of cases) {
    it(`${method} ${path.toString().match(/\/v1\/[a-z-]+[^`]*/)?.[0] ?? ''} → 404 ${code} for another organization`, async () => {
      for (const credential of [{ token: b.token }, { key: bAdminKey }]) {
        const res = await api(method, path(), credential);
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe(code);
        expect(res.text).not.toContain(a.organizationId);
      }
    });
  }

  it('leaves A’s resources intact and invisible in B’s lists, queries and discovery', async () => {
    expect((await api('GET', `/v1/api-keys/${ids.userKey}`, { token: a.token })).body.revoked_at).toBeNull();
    expect((await api('GET', `/v1/agents/${ids.agent}`, { token: a.token })).status).toBe(200);
    const agentKeys = await api('GET', `/v1/agents/${ids.agent}/api-keys`, { token: a.token });
    expect(agentKeys.body.total).toBe(1);
    const lists = await Promise.all([
      api('GET', '/v1/agents', { token: b.token }),
      api('GET', `/v1/agents?organization_id=${a.organizationId}`, { token: b.token }),
      api('GET', '/v1/agents/query?capability=secret_skill', { token: b.token }),
      api('POST', '/v1/agents/discover', { token: b.token, body: { query: 'secret skill' } }),
      api('GET', '/v1/api-keys', { token: b.token }),
    ]);
    for (const res of lists) {
      expect(res.status).toBe(200);
      expect(res.text).not.toContain(a.organizationId);
      expect(res.text).not.toContain(ids.agent);
      expect(res.text).not.toContain(ids.userKey);
    }
    // B's audit trail holds B's own (failed) attempts on A's ids, and nothing of A's.
    const audit = await api('GET', '/v1/audit-logs?per_page=200', { token: b.token });
    expect(audit.body.logs.length).toBeGreaterThan(0);
    for (const log of audit.body.logs) {
      expect(log.organization_id).toBe(b.organizationId);
      expect(log.actor_id === b.userId || log.actor_type === 'user').toBe(true);
    }
    expect(audit.text).not.toContain(a.userId);
    const exported = await api('GET', '/v1/audit-logs/export', { token: b.token });
    expect(exported.text).not.toContain(a.organizationId);
    expect(exported.text).not.toContain(a.userId);
    // B registering the same agent id creates its own, separate agent.
    const own = await api('POST', '/v1/agents', { token: b.token, body: { agent_id: ids.agent } });
    expect(own.status).toBe(201);
    expect(own.body.organization_id).toBe(b.organizationId);
  });
});
