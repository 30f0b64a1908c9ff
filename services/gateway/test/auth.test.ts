import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiCall, apiClient, createKey, registerOrg } from './api-client.js';
import { startTestGateway, type TestGateway } from './start-test-gateway.js';

let gw: TestGateway;
let api: ApiCall;
beforeAll(async () => {
  gw = await startTestGateway({ jwtSecret: 'test-secret-for-auth-tests-0123456789abcdef' });
  api = apiClient(gw.url);
});
afterAll(async () => {
  await gw?.stop();
});

/** Signs a token with the gateway's secret (to forge expiry) or another one (to tamper). */
async function forge(claims: Record<string, unknown>, opts: { secret?: string; exp?: number; alg?: string } = {}) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: opts.alg ?? 'HS256' })
    .setIssuer('capstan-gateway')
    .setAudience('capstan')
    .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
    .setExpirationTime(opts.exp ?? Math.floor(Date.now() / 1000) + 3600)
    .sign(new TextEncoder().encode(opts.secret ?? 'test-secret-for-auth-tests-0123456789abcdef'));
}

describe('POST /v1/auth/register', () => {
  it('creates an organization and owner, returns a usable JWT', async () => {
    const res = await api('POST', '/v1/auth/register', {
      body: { organization_name: 'Acme', user_name: 'Alice', email: 'Alice@Acme.test', password: 'securepassword123' },
    });
    expect(res.status).toBe(201);
    expect(res.body.organization).toMatchObject({ name: 'Acme', plan_type: 'free' });
    expect(res.body.organization.id).toMatch(/^org_[0-9a-f]{32}$/);
    expect(res.body.user).toMatchObject({ email: 'alice@acme.test', name: 'Alice', role: 'owner' });
    expect(res.body.expires_in).toBe(3600);
    const list = await api('GET', '/v1/api-keys', { token: res.body.token });
    expect(list.status).toBe(200);
  });

  it('rejects a taken email (409, 3001) and weak or malformed input (400 with field details)', async () => {
    const body = { organization_name: 'Dup', user_name: 'Dup', email: 'dup@acme.test', password: 'securepassword123' };
    expect((await api('POST', '/v1/auth/register', { body })).status).toBe(201);
    const again = await api('POST', '/v1/auth/register', { body: { ...body, email: 'DUP@acme.test' } });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 3001, details: [{ field: 'email' }] });
    const weak = await api('POST', '/v1/auth/register', {
      body: { ...body, email: 'not-an-email', password: 'short' },
    });
    expect(weak.status).toBe(400);
    expect(weak.body.error.code).toBe(3001);
    expect(weak.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual(['email', 'password']);
    const missing = await api('POST', '/v1/auth/register', { body: { organization_name: 'x' } });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe(3002);
    expect(missing.body.error.message).toContain('user_name');
  });
});

describe('POST /v1/auth/login', () => {
  it('returns a JWT for the right password and 401/4001 otherwise', async () => {
    const org = await registerOrg(api, 'login');
    const ok = await api('POST', '/v1/auth/login', {
      body: { email: org.email.toUpperCase(), password: org.password },
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ organization_id: org.organizationId, user: { id: org.userId, role: 'owner' } });
    const wrong = await api('POST', '/v1/auth/login', { body: { email: org.email, password: 'wrong password!' } });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toMatchObject({ code: 4001, message: 'Invalid email or password' });
    const unknown = await api('POST', '/v1/auth/login', { body: { email: 'nobody@x.test', password: 'whatever1' } });
    expect(unknown.status).toBe(401);
    expect(unknown.body.error.code).toBe(4001);
  });

  it('refuses a disabled account (403, 5005) for login and existing tokens', async () => {
    const org = await registerOrg(api, 'disabled');
    await gw.store.db.updateTable('users').set({ disabled_at: new Date() }).where('id', '=', org.userId).execute();
    const login = await api('POST', '/v1/auth/login', { body: { email: org.email, password: org.password } });
    expect(login.status).toBe(403);
    expect(login.body.error.code).toBe(5005);
    const call = await api('GET', '/v1/api-keys', { token: org.token });
    expect(call.status).toBe(403);
    expect(call.body.error.code).toBe(5005);
  });
});

describe('credentials on protected routes', () => {
  it('401 5001 without a credential, 5002 for an unknown key, 5006 for a tampered, expired or alg-none JWT', async () => {
    const org = await registerOrg(api, 'creds');
    const none = await api('GET', '/v1/agents');
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe(5001);
    const unknownKey = await api('GET', '/v1/agents', { key: `cacp_live_${'x'.repeat(43)}` });
    expect(unknownKey.status).toBe(401);
    expect(unknownKey.body.error.code).toBe(5002);
    const bearerKey = await api('GET', '/v1/agents', { token: `cacp_live_${'y'.repeat(43)}` });
    expect(bearerKey.body.error.code).toBe(5002);

    const [header, payload, signature] = org.token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const elevated = Buffer.from(JSON.stringify({ ...claims, organization_id: 'org_other' })).toString('base64url');
    const tampered = await api('GET', '/v1/agents', { token: `${header}.${elevated}.${signature}` });
    expect(tampered.status).toBe(401);
    expect(tampered.body.error).toMatchObject({ code: 5006, message: 'Invalid token: token signature is invalid' });

    const wrongSecret = await forge(claims, { secret: 'another-secret-another-secret-another-secret' });
    expect((await api('GET', '/v1/agents', { token: wrongSecret })).body.error.code).toBe(5006);

    const expired = await forge({ ...claims, exp: undefined }, { exp: Math.floor(Date.now() / 1000) - 60 });
    const expiredRes = await api('GET', '/v1/agents', { token: expired });
    expect(expiredRes.status).toBe(401);
    expect(expiredRes.body.error).toMatchObject({ code: 5006, message: 'Token expired' });

    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`;
    expect((await api('GET', '/v1/agents', { token: unsigned })).body.error.code).toBe(5006);
    expect((await api('GET', '/v1/agents', { token: 'garbage' })).body.error.code).toBe(5006);
    const malformed = await api('GET', '/v1/agents', { headers: { authorization: 'Basic abc' } });
    expect(malformed.status).toBe(401);
    expect(malformed.body.error.code).toBe(5001);
  });

  it('keeps the credential’s organization when X-Organization-Id disagrees, flags it and audits it', async () => {
    const a = await registerOrg(api, 'mismatch-a');
    const b = await registerOrg(api, 'mismatch-b');
    const res = await api('GET', '/v1/api-keys', {
      token: a.token,
      headers: { 'x-organization-id': b.organizationId },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-organization-mismatch')).toBe('true');
    const same = await api('GET', '/v1/api-keys', {
      token: a.token,
      headers: { 'x-organization-id': a.organizationId },
    });
    expect(same.headers.get('x-organization-mismatch')).toBeNull();
    const logs = await api('GET', '/v1/audit-logs?action=auth.organization_mismatch', { token: a.token });
    expect(logs.body.logs).toHaveLength(1);
    expect(logs.body.logs[0]).toMatchObject({
      organization_id: a.organizationId,
      actor_id: a.userId,
      details: { requested_organization_id: b.organizationId },
    });
    const other = await api('GET', '/v1/audit-logs?action=auth.organization_mismatch', { token: b.token });
    expect(other.body.logs).toHaveLength(0);
  });
});

describe('POST /v1/auth/refresh and /v1/auth/token', () => {
  it('refreshes a valid JWT and rejects invalid ones with 4001', async () => {
    const org = await registerOrg(api, 'refresh');
    const res = await api('POST', '/v1/auth/refresh', { token: org.token });
    expect(res.status).toBe(200);
    expect(res.body.token).not.toBe(org.token);
    expect((await api('GET', '/v1/api-keys', { token: res.body.token })).status).toBe(200);
    const bad = await api('POST', '/v1/auth/refresh', { token: `${org.token}x` });
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe(4001);
    const none = await api('POST', '/v1/auth/refresh');
    expect(none.body.error.code).toBe(4001);
    const key = await createKey(api, org.token);
    const withKey = await api('POST', '/v1/auth/refresh', { token: key.key });
    expect(withKey.body.error.code).toBe(4001);
  });

  it('refuses to refresh past the maximum session age', async () => {
    const org = await registerOrg(api, 'session');
    const claims = JSON.parse(Buffer.from(org.token.split('.')[1] as string, 'base64url').toString());
    const old = await forge({ ...claims, exp: undefined, iat: undefined, auth_time: claims.auth_time - 8 * 86_400 });
    expect((await api('GET', '/v1/api-keys', { token: old })).status).toBe(200);
    const res = await api('POST', '/v1/auth/refresh', { token: old });
    expect(res.status).toBe(401);
    expect(res.body.error.message).toContain('Session too old');
  });

  it('exchanges an API key for a JWT that dies with the key', async () => {
    const org = await registerOrg(api, 'exchange');
    const key = await createKey(api, org.token, { role: 'developer' });
    const res = await api('POST', '/v1/auth/token', { body: { api_key: key.key } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      organization_id: org.organizationId,
      user: { id: org.userId, role: 'developer' },
    });
    const jwt = res.body.token as string;
    expect((await api('GET', '/v1/agents', { token: jwt })).status).toBe(200);
    expect((await api('DELETE', `/v1/api-keys/${key.id}`, { token: org.token })).status).toBe(204);
    const after = await api('GET', '/v1/agents', { token: jwt });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe(5006);
    const again = await api('POST', '/v1/auth/token', { body: { api_key: key.key } });
    expect(again.status).toBe(401);
    expect(again.body.error).toMatchObject({ code: 4001, message: 'Invalid or revoked API key' });
    expect((await api('POST', '/v1/auth/token', { body: { api_key: 'nope' } })).body.error.code).toBe(4001);
  });
});
