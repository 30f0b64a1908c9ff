import { create } from '@bufbuild/protobuf';
import { DecisionType, PolicyCheckRequestSchema } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { testServices, uniqueName } from '@capstan/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PolicyArgumentError } from './errors.js';
import { evaluate } from './evaluate.js';
import { loadBundle } from './load-bundle.js';
import { createRedisVelocityCounter } from './redis-velocity-counter.js';
import type { VelocityCounter } from './velocity-counter.js';

let redis: Redis;
let prefix: string;
let counter: VelocityCounter;

beforeAll(() => {
  redis = new Redis(testServices().redisUrl);
  prefix = `${uniqueName('policy_velocity')}:`;
  counter = createRedisVelocityCounter({ redis, keyPrefix: prefix });
});

afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

const live = { dryRun: false };

describe('redis velocity counter (real redis-server)', () => {
  it('counts hits in a sliding window and flags counts over the limit', async () => {
    expect(await counter.hit('k1', 1000, 2, { ...live, now: 10_000 })).toEqual({ count: 1, exceeded: false });
    expect(await counter.hit('k1', 1000, 2, { ...live, now: 10_500 })).toEqual({ count: 2, exceeded: false });
    expect(await counter.hit('k1', 1000, 2, { ...live, now: 10_900 })).toEqual({ count: 3, exceeded: true });
    expect(await counter.hit('k1', 1000, 2, { ...live, now: 11_000 })).toEqual({ count: 3, exceeded: true });
    expect(await counter.hit('k1', 1000, 2, { ...live, now: 12_500 })).toEqual({ count: 1, exceeded: false });
  });

  it('keeps one sorted set per key, trimmed to limit + 1 entries, with a TTL of the window', async () => {
    for (let i = 0; i < 20; i++) await counter.hit('k2', 60_000, 3, { ...live, now: 1_000 + i });
    expect(await redis.zcard(`${prefix}k2`)).toBe(4);
    const ttl = await redis.pttl(`${prefix}k2`);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('dry runs read without writing', async () => {
    await counter.hit('k3', 1000, 1, { ...live, now: 5_000 });
    for (let i = 0; i < 3; i++) {
      expect(await counter.hit('k3', 1000, 1, { dryRun: true, now: 5_100 })).toEqual({ count: 2, exceeded: true });
    }
    expect(await redis.zcard(`${prefix}k3`)).toBe(1);
    expect(await counter.hit('k-none', 1000, 1, { dryRun: true, now: 5_100 })).toEqual({ count: 1, exceeded: false });
    expect(await redis.exists(`${prefix}k-none`)).toBe(0);
  });

  it('counts concurrent hits in the same millisecond separately', async () => {
    const hits = await Promise.all(
      Array.from({ length: 10 }, () => counter.hit('k4', 1000, 100, { ...live, now: 7_000 })),
    );
    expect(hits.map((h) => h.count).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('drives a throttle rule end to end', async () => {
    const bundle = loadBundle(
      'rules:\n  - { id: slow, velocity: { key: [tenant, topic], limit: 2, window_seconds: 1 }, decision: throttle }\ndefault_decision: allow',
    );
    const req = create(PolicyCheckRequestSchema, { tenant: uniqueName('tenant'), topic: 'job.llm.chat' });
    const decisions = [];
    for (let i = 0; i < 3; i++) decisions.push((await evaluate(bundle, req, { velocity: counter })).decision);
    expect(decisions).toEqual([DecisionType.ALLOW, DecisionType.ALLOW, DecisionType.THROTTLE]);
  });

  it('requires a client', () => {
    expect(() => createRedisVelocityCounter({} as never)).toThrow(PolicyArgumentError);
  });
});
