import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiCall, apiClient, createKey, registerOrg } from './api-client.js';
import { startTestGateway, type TestGateway } from './start-test-gateway.js';

let gw: TestGateway;
let api: ApiCall;
let org: Awaited<ReturnType<typeof registerOrg>>;
const keys: Record<string, string> = {};
beforeAll(async () => {
  gw = await startTestGateway();
  api = apiClient(gw.url);
  org = await registerOrg(api, 'roles');
  for (const role of ['viewer', 'developer', 'admin', 'owner'])
    keys[role] = (await createKey(api, org.token, { role })).key;
  await api('POST', '/v1/agents', { token: org.token, body: { agent_id: 'subject' } });
});
afterAll(async () => {
  await gw?.stop();
});

describe('roles owner > admin > developer > viewer, enforced per route', () => {
  // [what, minimum role, request] — each is tried with every role.
  const matrix: Array<[string, string, (role: string) => [string, string, unknown?]]> = [
    ['list agents', 'viewer', () => ['GET', '/v1/agents']],
    ['discover', 'viewer', () => ['POST', '/v1/agents/discover', { query: 'x' }]],
    ['list own keys', 'viewer', () => ['GET', '/v1/api-keys']],
    ['list an agent’s keys', 'developer', () => ['GET', '/v1/agents/subject/api-keys']],
    ['register an agent', 'developer', (role) => ['POST', '/v1/agents', { agent_id: `by-${role}` }]],
    ['mint a key for another agent', 'admin', () => ['POST', '/v1/agents/subject/api-keys', { name: 'x' }]],
    ['read the audit log', 'admin', () => ['GET', '/v1/audit-logs']],
    ['export the audit log', 'admin', () => ['GET', '/v1/audit-logs/export']],
  ];
  const rank = ['viewer', 'developer', 'admin', 'owner'];

  for (const [what, minimum, request] of matrix) {
    it(`${what}: ${minimum} and above`, async () => {
      for (const role of rank) {
        const [method, path, body] = request(role);
        const res = await api(method, path, { key: keys[role], ...(body ? { body } : {}) });
        const allowed = rank.indexOf(role) >= rank.indexOf(minimum);
        expect(res.status < 400, `${role} ${method} ${path}: ${res.status} ${res.text.slice(0, 200)}`).toBe(allowed);
        if (!allowed) expect(res.body.error.code).toBe(4003);
      }
    });
  }

  it('delete an agent: admin and above', async () => {
    for (const role of rank) {
      await api('POST', '/v1/agents', { token: org.token, body: { agent_id: `del-${role}` } });
      const res = await api('DELETE', `/v1/agents/del-${role}`, { key: keys[role] });
      expect(res.status, role).toBe(rank.indexOf(role) >= 2 ? 204 : 403);
    }
  });
});
