import { createHash } from 'node:crypto';
import { freePort, type ServerHandle, startRedis } from '@capstan/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { contextPointer, resultPointer } from './cap-pointers.js';
import { createPointerStore } from './create-pointer-store.js';
import type { PointerStore } from './pointer-store.js';
import { REDIS_POINTER_META_PREFIX, redisMetaKey } from './redis-backend.js';

const sha256 = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let server: ServerHandle;
let raw: Redis;
let store: PointerStore;

beforeAll(async () => {
  server = await startRedis();
  raw = new Redis(server.url);
  store = createPointerStore({ redis: server.url, maxBytes: 1024 });
});

afterAll(async () => {
  await store?.close();
  await raw?.quit();
  await server?.stop();
});

beforeEach(async () => {
  await raw.flushdb();
});

describe('redis pointer store (real redis-server)', () => {
  it('round-trips a payload; the key holds the raw bytes and metadata lives in a separate hash', async () => {
    const uri = contextPointer('job-1');
    const info = await store.putJson(uri, { prompt: 'hello' });
    expect(info).toMatchObject({ uri: 'redis://ctx:job-1', size: 18, contentType: 'application/json' });

    // What a CAP SDK worker does: a plain GET of the key sees the payload, no envelope.
    expect(await raw.get('ctx:job-1')).toBe('{"prompt":"hello"}');
    expect(await raw.hgetall(`${REDIS_POINTER_META_PREFIX}ctx:job-1`)).toEqual({
      contentType: 'application/json',
      sha256: sha256('{"prompt":"hello"}'),
      size: '18',
      createdAt: info.createdAt!.toISOString(),
    });

    const loaded = await store.get(uri);
    expect(Buffer.from(loaded.data).toString()).toBe('{"prompt":"hello"}');
    expect(loaded.info).toEqual(info);
    expect(await store.getJson(uri)).toEqual({ prompt: 'hello' });
    expect(await store.head(uri)).toEqual(info);
  });

  it('round-trips binary payloads byte for byte', async () => {
    const data = new Uint8Array(256).map((_, i) => i);
    await store.put({ scheme: 'redis', key: 'art:bin' }, data);
    expect((await store.get('redis://art:bin')).data).toEqual(data);
    expect(new Uint8Array((await raw.getBuffer('art:bin'))!)).toEqual(data);
  });

  it('loads a value a third party wrote with a raw SET ctx:<id>, computing size and sha256', async () => {
    await raw.set('ctx:third-party-1', '{"input":42}');
    const loaded = await store.get(contextPointer('third-party-1'));
    expect(loaded.info).toEqual({
      uri: 'redis://ctx:third-party-1',
      size: 12,
      sha256: sha256('{"input":42}'),
      contentType: 'application/octet-stream',
      hasMetadata: false,
    });
    expect(await store.getJson(contextPointer('third-party-1'))).toEqual({ input: 42 });
    expect(await store.head(contextPointer('third-party-1'))).toEqual(loaded.info);
  });

  it("reads a CAP worker's SET res:<id> with its TTL as expiresAt", async () => {
    await raw.set('res:job-7', '{"ok":true}', 'EX', 60);
    const loaded = await store.get(resultPointer('job-7'));
    expect(loaded.info.hasMetadata).toBe(false);
    const remaining = loaded.info.expiresAt!.getTime() - Date.now();
    expect(remaining).toBeGreaterThan(50_000);
    expect(remaining).toBeLessThanOrEqual(60_000);
  });

  it('enforces maxBytes on put and on get, without fetching more than the limit', async () => {
    await expect(store.put('redis://big', new Uint8Array(1025))).rejects.toMatchObject({
      code: 'TOO_LARGE',
      message: 'payload at redis://big is 1025 bytes; the limit (maxBytes) is 1024 bytes',
    });
    expect(await raw.exists('big')).toBe(0);
    await raw.set('ctx:huge', 'x'.repeat(5000));
    await expect(store.get('redis://ctx:huge')).rejects.toMatchObject({
      code: 'TOO_LARGE',
      message: 'payload at redis://ctx:huge is 5000 bytes; the limit (maxBytes) is 1024 bytes',
    });
    await expect(store.head('redis://ctx:huge')).rejects.toMatchObject({ code: 'TOO_LARGE' });
  });

  it('sets PX on the payload and the metadata; both are gone after the TTL', async () => {
    await store.put('redis://ctx:short', 'soon gone', { ttlMs: 300 });
    const [valueTtl, metaTtl] = await Promise.all([raw.pttl('ctx:short'), raw.pttl(redisMetaKey('ctx:short'))]);
    expect(valueTtl).toBeGreaterThan(0);
    expect(valueTtl).toBeLessThanOrEqual(300);
    expect(metaTtl).toBeGreaterThan(0);
    expect(metaTtl).toBeLessThanOrEqual(300);
    await expect(store.get('redis://ctx:short')).resolves.toMatchObject({ info: { size: 9 } });
    await sleep(400);
    // Redis drops expired keys itself, so an expired payload reads as NOT_FOUND.
    await expect(store.get('redis://ctx:short')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await raw.exists('ctx:short', redisMetaKey('ctx:short'))).toBe(0);
  });

  it('a later put without TTL clears the earlier TTL of payload and metadata', async () => {
    await store.put('redis://k', 'one', { ttlMs: 60_000 });
    await store.put('redis://k', 'two');
    expect(await raw.pttl('k')).toBe(-1);
    expect(await raw.pttl(redisMetaKey('k'))).toBe(-1);
    expect(await raw.hget(redisMetaKey('k'), 'expiresAt')).toBeNull();
  });

  it('reads a value a CAP worker rewrote with a plain SET as a third-party value (the metadata is stale)', async () => {
    // Regression: a retried job's result written first by a Capstan worker, then by an official CAP SDK worker that
    // knows nothing of capstan:ptrmeta:<key>, must load, not fail with CHECKSUM_MISMATCH.
    await store.put('redis://res:t', 'original');
    await raw.set('res:t', 'rewritten');
    const { data, info } = await store.get('redis://res:t');
    expect(Buffer.from(data).toString()).toBe('rewritten');
    expect(info).toMatchObject({ size: 9, sha256: sha256('rewritten'), hasMetadata: false });
    expect((await store.head('redis://res:t')).size).toBe(9);
  });

  it('deletes payload and metadata together', async () => {
    await store.put('redis://ctx:d', 'x');
    await store.delete('redis://ctx:d');
    expect(await raw.exists('ctx:d', redisMetaKey('ctx:d'))).toBe(0);
    await expect(store.get('redis://ctx:d')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('refuses non-string values and the reserved metadata namespace', async () => {
    await raw.lpush('ctx:list', 'a');
    await expect(store.get('redis://ctx:list')).rejects.toMatchObject({
      code: 'INVALID_PAYLOAD',
      message: expect.stringMatching(/holds the wrong type; pointers reference string values/),
    });
    await expect(store.head('redis://ctx:list')).rejects.toMatchObject({ code: 'INVALID_PAYLOAD' });
    // A stray value of another type where the metadata hash belongs is replaced by the write (DEL, then HSET).
    await raw.lpush(redisMetaKey('ctx:meta-list'), 'a');
    await store.put('redis://ctx:meta-list', 'x');
    expect(await raw.type(redisMetaKey('ctx:meta-list'))).toBe('hash');
    expect((await store.get('redis://ctx:meta-list')).data).toEqual(new TextEncoder().encode('x'));
    await expect(store.put(`redis://${REDIS_POINTER_META_PREFIX}x`, 'x')).rejects.toMatchObject({
      code: 'INVALID_POINTER',
      message: expect.stringMatching(/reserved key prefix capstan:ptrmeta:/),
    });
  });

  it('rejects unknown schemes and schemes without a backend', async () => {
    await expect(store.get('ftp://host/ctx:1')).rejects.toMatchObject({ code: 'SCHEME_NOT_ALLOWED' });
    await expect(store.get('s3://bucket/key')).rejects.toMatchObject({
      code: 'SCHEME_NOT_ALLOWED',
      message: expect.stringMatching(/enabled schemes: redis, mem/),
    });
  });

  it('leaves a caller-owned client open on close', async () => {
    const client = new Redis(server.url);
    const borrowed = createPointerStore({ redis: client, allowedSchemes: ['redis'] });
    await borrowed.put('redis://owned', 'x');
    await borrowed.close();
    expect(await client.get('owned')).toBe('x');
    await client.quit();
  });

  it('reports an unreachable server as BACKEND_UNAVAILABLE', async () => {
    const port = await freePort();
    const unreachable = createPointerStore({ redis: `redis://127.0.0.1:${port}` });
    await expect(unreachable.get('redis://ctx:1')).rejects.toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
      message: expect.stringMatching(/^redis backend failed to read redis:\/\/ctx:1: /),
    });
    await unreachable.close();
  });
});
