import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { startRedis } from './start-redis.js';

describe('startRedis', () => {
  it('starts redis-server on loopback with a fresh dir, and stop() kills it and removes the dir', async () => {
    const server = await startRedis();
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    const redis = new Redis(server.url);
    await redis.set('k', 'v');
    expect(await redis.get('k')).toBe('v');
    expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
    expect(await redis.config('GET', 'dir')).toEqual(['dir', server.dataDir]);
    redis.disconnect();

    await server.stop();
    expect(() => process.kill(server.pid, 0)).toThrow();
    expect(existsSync(server.dataDir)).toBe(false);
  });

  it('turns the append-only file on when asked', async () => {
    const server = await startRedis({ appendonly: true });
    try {
      const redis = new Redis(server.url);
      expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      redis.disconnect();
    } finally {
      await server.stop();
    }
  });
});
