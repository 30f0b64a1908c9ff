import { describe, expect, it } from 'vitest';
import { PolicyArgumentError } from './errors.js';
import { createMemoryVelocityCounter } from './memory-velocity-counter.js';

const live = { dryRun: false };

describe('in-memory velocity counter', () => {
  it('counts hits in a sliding window and flags counts over the limit', async () => {
    const c = createMemoryVelocityCounter();
    expect(await c.hit('k', 1000, 2, { ...live, now: 0 })).toEqual({ count: 1, exceeded: false });
    expect(await c.hit('k', 1000, 2, { ...live, now: 500 })).toEqual({ count: 2, exceeded: false });
    expect(await c.hit('k', 1000, 2, { ...live, now: 900 })).toEqual({ count: 3, exceeded: true });
    // The window is (now - 1000, now]: at 1000 the hit at 0 has left.
    expect(await c.hit('k', 1000, 2, { ...live, now: 1000 })).toEqual({ count: 3, exceeded: true });
    expect(await c.hit('k', 1000, 2, { ...live, now: 2500 })).toEqual({ count: 1, exceeded: false });
  });

  it('dry runs read without recording', async () => {
    const c = createMemoryVelocityCounter();
    await c.hit('k', 1000, 1, { ...live, now: 0 });
    for (let i = 0; i < 3; i++) {
      expect(await c.hit('k', 1000, 1, { dryRun: true, now: 10 })).toEqual({ count: 2, exceeded: true });
    }
    expect(await c.hit('fresh', 1000, 1, { dryRun: true, now: 10 })).toEqual({ count: 1, exceeded: false });
    expect(c.size).toBe(1);
  });

  it('keeps at most limit + 1 hits per key, so the count saturates', async () => {
    const c = createMemoryVelocityCounter();
    let last = { count: 0, exceeded: false };
    for (let i = 0; i < 1000; i++) last = await c.hit('k', 60_000, 3, { ...live, now: i });
    expect(last).toEqual({ count: 4, exceeded: true });
  });

  it('bounds the number of keys, forgetting the least recently hit', async () => {
    const c = createMemoryVelocityCounter({ maxKeys: 3 });
    for (const key of ['a', 'b', 'c']) await c.hit(key, 60_000, 5, { ...live, now: 1 });
    await c.hit('a', 60_000, 5, { ...live, now: 2 });
    await c.hit('d', 60_000, 5, { ...live, now: 3 });
    expect(c.size).toBe(3);
    // b was the least recently hit: it starts over; a kept its history.
    expect(await c.hit('b', 60_000, 5, { dryRun: true, now: 4 })).toEqual({ count: 1, exceeded: false });
    expect(await c.hit('a', 60_000, 5, { dryRun: true, now: 4 })).toEqual({ count: 3, exceeded: false });
  });

  it('sweeps keys whose window has passed', async () => {
    const c = createMemoryVelocityCounter();
    for (let i = 0; i < 50; i++) await c.hit(`k${i}`, 100, 5, { ...live, now: 0 });
    await c.hit('late', 100, 5, { ...live, now: 1000 });
    expect(c.size).toBe(1);
  });

  it('rejects a bad maxKeys', () => {
    expect(() => createMemoryVelocityCounter({ maxKeys: 0 })).toThrow(PolicyArgumentError);
  });
});
