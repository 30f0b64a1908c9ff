import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiCall, apiClient, createKey, registerOrg } from './api-client.js';
import { startTestGateway, type TestGateway } from './start-test-gateway.js';

let gw: TestGateway;
let api: ApiCall;
let token: string;
let key: string;
beforeAll(async () => {
  gw = await startTestGateway({ bodyLimitBytes: 64 * 1024 });
  api = apiClient(gw.url);
  const org = await registerOrg(api, 'bad-input');
  token = org.token;
  key = (await createKey(api, token)).key;
  await api('POST', '/v1/agents', { token, body: { agent_id: 'fuzz-target', capabilities: ['x'] } });
});
afterAll(async () => {
  await gw?.stop();
});

describe('hostile and malformed requests get a clear 4xx', () => {
  it('malformed JSON → 400 3001', async () => {
    const res = await api('POST', '/v1/api-keys', { token, rawBody: '{"name": "x",' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 3001, message: expect.stringContaining('not valid JSON') });
    const empty = await api('POST', '/v1/api-keys', { token, rawBody: '' });
    expect(empty.status).toBe(400);
    expect(empty.body.error.code).toBe(3001);
  });

  it('wrong types and unknown fields → 400 with one detail per field', async () => {
    const res = await api('POST', '/v1/api-keys', {
      token,
      body: { name: 42, scopes: 'agents:read', expires_in_days: -1, admin: true },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(3001);
    const details = Object.fromEntries(
      res.body.error.details.map((d: { field: string; message: string }) => [d.field, d.message]),
    );
    expect(Object.keys(details).sort()).toEqual(['admin', 'expires_in_days', 'name', 'scopes']);
    expect(details.admin).toBe('unknown field; remove it');
    expect(details.name).toContain('expected string');
    const onlyUnknown = await api('POST', '/v1/api-keys', { token, body: { name: 'ci', admin: true } });
    expect(onlyUnknown.status).toBe(400);
    expect(onlyUnknown.body.error.details).toEqual([
      { field: 'admin', message: 'unknown field; remove it', location: 'body' },
    ]);
    const nullBody = await api('POST', '/v1/api-keys', { token, rawBody: 'null' });
    expect(nullBody.status).toBe(400);
    expect(nullBody.body.error.message).toContain('must be a JSON object');
    const noBody = await api('POST', '/v1/api-keys', { token });
    expect(noBody.status).toBe(400);
    expect(noBody.body.error).toMatchObject({
      code: 3002,
      message: expect.stringContaining('JSON request body is required'),
    });
    const unknownQuery = await api('GET', '/v1/agents?colour=blue', { token });
    expect(unknownQuery.status).toBe(400);
    expect(unknownQuery.body.error.details[0]).toMatchObject({ field: 'colour', location: 'query' });
  });

  it('oversized bodies → 413 1002; other content types → 415 1003; prototype pollution → 400', async () => {
    const big = await api('POST', '/v1/agents/discover', { token, body: { query: 'x'.repeat(100 * 1024) } });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe(1002);
    const text = await api('POST', '/v1/api-keys', { token, rawBody: 'name=x', contentType: 'text/plain' });
    expect(text.status).toBe(415);
    expect(text.body.error.code).toBe(1003);
    const form = await api('POST', '/v1/api-keys', {
      token,
      rawBody: 'name=x',
      contentType: 'application/x-www-form-urlencoded',
    });
    expect(form.status).toBe(415);
    const proto = await api('POST', '/v1/api-keys', { token, rawBody: '{"name":"x","__proto__":{"admin":true}}' });
    expect(proto.status).toBe(400);
    expect(proto.body.error.code).toBe(3001);
  });

  it('huge page sizes and path traversal in ids → 400 naming the parameter', async () => {
    for (const query of ['per_page=1000000', 'per_page=-1', 'per_page=1e309', 'per_page=abc']) {
      const res = await api('GET', `/v1/agents?${query}`, { token });
      expect(res.status).toBe(400);
      expect(res.body.error.details[0]).toMatchObject({ field: 'per_page', location: 'query' });
    }
    for (const [method, path] of [
      ['GET', '/v1/agents/..%2F..%2Fetc%2Fpasswd'],
      ['GET', '/v1/api-keys/..%2Fkey_1'],
      ['GET', `/v1/agents/${'a'.repeat(300)}`],
      ['GET', '/v1/audit-logs/log_..%2F..'],
      ['DELETE', '/v1/agents/fuzz-target/api-keys/..%2F..%2Fx'],
      ['DELETE', '/v1/agents/..%5C..%5Cwindows'],
    ] as const) {
      const res = await api(method, path, { token });
      expect(res.status, path).toBe(400);
      expect(res.body.error.details[0].location).toBe('params');
    }
    const tooLong = await api('GET', `/v1/agents/${'a'.repeat(2000)}`, { token });
    expect(tooLong.status).toBe(414);
    expect(tooLong.body.error.code).toBe(1007);
    const badEncoding = await api('GET', '/v1/agents/%ZZ', { token });
    expect(badEncoding.status).toBe(400);
    expect(badEncoding.body.error.code).toBe(3001);
    // `..` segments are resolved by URL normalization before routing: they can only reach a route that exists.
    const dots = await api('GET', '/v1/agents/%2e%2e', { token });
    expect(dots.status).toBe(404);
    expect(dots.body.error.code).toBe(1001);
  });
});

describe('property: random requests never produce a 5xx', () => {
  it('ids and cursors beyond what the database can hold → 400, not 500', async () => {
    for (const path of ['/v1/dlq/9999999999999999999', '/v1/dlq/9223372036854775808']) {
      const res = await api('GET', path, { token });
      expect(res.status).toBe(400);
      expect(res.body.error.details[0]).toMatchObject({ field: 'id' });
      expect((await api('POST', `${path}/retry`, { token })).status).toBe(400);
    }
    expect((await api('GET', '/v1/dlq/9223372036854775807', { token })).status).toBe(404);
  });

  it('throws random bodies, params and headers at every route', { timeout: 120_000 }, async () => {
    const doc = (await api('GET', '/v1/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => ({ method: method.toUpperCase(), path })),
    );
    expect(routes.length).toBeGreaterThanOrEqual(20);
    const segment = fc.oneof(
      fc.constantFrom('fuzz-target', '..', '%2e%2e%2f', 'key_00000000000000000000000000000000', 'log_x', '%00', '%ZZ'),
      fc.string({ maxLength: 40 }).map(encodeURIComponent),
    );
    const body = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 200 }),
      fc.constantFrom('{', '[]', '{"name":', '\u0000', '{"__proto__":{}}', '{"constructor":{"prototype":{}}}'),
      fc
        .record({ name: fc.anything(), scopes: fc.anything(), query: fc.anything(), agent_id: fc.anything() })
        .map((v) => JSON.stringify(v) ?? '{}'),
    );
    const credential = fc.constantFrom<Record<string, string>>(
      {},
      { authorization: `Bearer ${token}` },
      { 'x-api-key': key },
      { authorization: 'Bearer cacp_live_bogus' },
      { authorization: 'Bearer eyJhbGciOiJub25lIn0.e30.' },
      { authorization: 'Basic Zm9vOmJhcg==' },
    );
    const query = fc.dictionary(
      fc.constantFrom('per_page', 'cursor', 'capability', 'page', 'from', 'status', 'x'),
      fc.string({ maxLength: 30 }),
    );
    const contentType = fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/octet-stream',
    );

    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        segment,
        segment,
        body,
        credential,
        query,
        contentType,
        async (route, s1, s2, raw, cred, q, ct) => {
          let used = 0;
          const path = route.path.replace(/\{[^}]+\}/g, () => (used++ === 0 ? s1 : s2));
          const search = new URLSearchParams(q).toString();
          const withBody = route.method !== 'GET' && route.method !== 'DELETE';
          const res = await fetch(`${gw.url}${path}${search ? `?${search}` : ''}`, {
            method: route.method,
            headers: { ...cred, ...(withBody ? { 'content-type': ct } : {}) },
            ...(withBody ? { body: raw } : {}),
          });
          const text = await res.text();
          if (res.status >= 500) throw new Error(`${route.method} ${path} → ${res.status}: ${text}`);
          if (res.status >= 400) expect(JSON.parse(text).error.code).toEqual(expect.any(Number));
        },
      ),
      { numRuns: 400 },
    );
    expect((await api('GET', '/health')).status).toBe(200);
    expect((await api('GET', '/ready')).status).toBe(200);
  });
});
