import { testServices } from '@capstan/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiCall, apiClient, registerOrg } from './api-client.js';
import { startTestGateway, type TestGateway } from './start-test-gateway.js';

// A Redis database of its own: the anonymous counter is keyed by client IP (127.0.0.1), which other test files
// running in parallel share.
const REDIS_DB = 7;
let gw: TestGateway;
let api: ApiCall;
let redisUrl: string;
beforeAll(async () => {
  redisUrl = `${testServices().redisUrl}/${REDIS_DB}`;
  const redis = new Redis(redisUrl);
  await redis.flushdb();
  redis.disconnect();
  gw = await startTestGateway({ redisUrl, rateLimitMax: 5, rateLimitAnonymousMax: 3, rateLimitWindowMs: 60_000 });
  api = apiClient(gw.url);
});
afterAll(async () => {
  await gw?.stop();
});

describe('per-tenant rate limits in Redis', () => {
  it('sends x-ratelimit headers on every response and 429 + Retry-After (6001) past the limit, shared by replicas', async () => {
    // (The two registrations are anonymous calls: they use 2 of the IP's 3.)
    const org = await registerOrg(api, 'limited');
    const other = await registerOrg(api, 'unlimited');
    const replica = await gw.startReplica();
    const replicaApi = apiClient(replica.url);
    const remaining: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await api('GET', '/v1/agents', { token: org.token });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-ratelimit-limit')).toBe('5');
      expect(Number(res.headers.get('x-ratelimit-reset'))).toBeGreaterThan(0);
      remaining.push(res.headers.get('x-ratelimit-remaining') ?? '');
    }
    expect(remaining).toEqual(['4', '3', '2', '1']);
    const fifth = await replicaApi('GET', '/v1/agents', { token: org.token });
    expect(fifth.status).toBe(200);
    expect(fifth.headers.get('x-ratelimit-remaining')).toBe('0');
    const over = await api('GET', '/v1/agents', { token: org.token });
    expect(over.status).toBe(429);
    expect(over.body.error).toMatchObject({ code: 6001, message: expect.stringContaining('Rate limit exceeded') });
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(over.headers.get('x-ratelimit-remaining')).toBe('0');
    const overOnReplica = await replicaApi('GET', '/v1/agents', { token: org.token });
    expect(overOnReplica.status).toBe(429);
    // Another tenant has its own budget.
    const fine = await api('GET', '/v1/agents', { token: other.token });
    expect(fine.status).toBe(200);
    expect(fine.headers.get('x-ratelimit-remaining')).toBe('4');
  });

  it('limits anonymous calls and rejected credentials per client IP; health checks are never limited', async () => {
    const redis = new Redis(redisUrl);
    await redis.flushdb();
    redis.disconnect();
    const attempts = [
      await api('POST', '/v1/auth/login', { body: { email: 'x@y.test', password: 'wrongpass' } }),
      await api('GET', '/v1/agents', { key: `cacp_live_${'z'.repeat(43)}` }),
      await api('GET', '/v1/no-such-route'),
    ];
    expect(attempts.map((r) => r.status)).toEqual([401, 401, 404]);
    expect(attempts.map((r) => r.headers.get('x-ratelimit-remaining'))).toEqual(['2', '1', '0']);
    const blocked = await api('POST', '/v1/auth/login', { body: { email: 'x@y.test', password: 'wrongpass' } });
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe(6001);
    for (const path of ['/health', '/ready']) {
      const res = await api('GET', path);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-ratelimit-limit')).toBeNull();
    }
  });
});
