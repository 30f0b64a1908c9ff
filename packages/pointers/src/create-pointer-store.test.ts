import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { assemblePointerStore } from './assemble-pointer-store.js';
import { createPointerStore } from './create-pointer-store.js';
import { createMemBackend } from './mem-backend.js';
import { resolvePointerStoreOptions } from './pointer-store-options.js';

const sha256 = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');

afterEach(() => {
  vi.useRealTimers();
});

describe('mem pointer store', () => {
  it('round-trips bytes with size, sha256, content type and creation time', async () => {
    const store = createPointerStore();
    const data = new Uint8Array([0, 1, 2, 255]);
    const before = Date.now();
    const info = await store.put('mem://blob', data, { contentType: 'application/x-test' });
    expect(info).toMatchObject({
      uri: 'mem://blob',
      size: 4,
      sha256: sha256(data),
      contentType: 'application/x-test',
      hasMetadata: true,
    });
    expect(info.createdAt!.getTime()).toBeGreaterThanOrEqual(before);
    expect(info.expiresAt).toBeUndefined();

    const loaded = await store.get('mem://blob');
    expect(loaded.data).toEqual(data);
    expect(loaded.info).toEqual(info);
    expect(await store.head('mem://blob')).toEqual(info);
    await store.close();
  });

  it('stores a copy, so mutating the caller buffer or a loaded buffer changes nothing', async () => {
    const store = createPointerStore();
    const data = new Uint8Array([1, 2, 3]);
    await store.put('mem://copy', data);
    data[0] = 9;
    const first = await store.get('mem://copy');
    first.data[1] = 9;
    expect((await store.get('mem://copy')).data).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('encodes strings as UTF-8 with a text content type, and accepts parsed pointers as targets', async () => {
    const store = createPointerStore();
    const info = await store.put({ scheme: 'mem', key: 'greeting' }, 'héllo');
    expect(info).toMatchObject({ uri: 'mem://greeting', size: 6, contentType: 'text/plain; charset=utf-8' });
    expect(Buffer.from((await store.get('mem://greeting')).data).toString('utf8')).toBe('héllo');
  });

  it('putJson/getJson round-trip with application/json', async () => {
    const store = createPointerStore();
    const value = { prompt: 'hi', n: [1, 2], nested: { ok: true } };
    const info = await store.putJson('mem://ctx:1', value);
    expect(info.contentType).toBe('application/json');
    expect(await store.getJson<typeof value>('mem://ctx:1')).toEqual(value);
  });

  it('getJson reports payloads that are not JSON or not UTF-8', async () => {
    const store = createPointerStore();
    await store.put('mem://text', 'not json');
    await expect(store.getJson('mem://text')).rejects.toMatchObject({
      code: 'INVALID_PAYLOAD',
      message: expect.stringMatching(
        /payload at mem:\/\/text \(text\/plain; charset=utf-8, 8 bytes\) is not valid JSON/,
      ),
    });
    await store.put('mem://latin1', new Uint8Array([0xff, 0xfe]));
    await expect(store.getJson('mem://latin1')).rejects.toMatchObject({
      code: 'INVALID_PAYLOAD',
      message: 'payload at mem://latin1 is not valid UTF-8, so not JSON',
    });
  });

  it('putJson refuses values JSON cannot represent', async () => {
    const store = createPointerStore();
    await expect(store.putJson('mem://u', undefined)).rejects.toMatchObject({
      code: 'INVALID_PAYLOAD',
      message: expect.stringMatching(/is undefined, which JSON cannot represent/),
    });
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    await expect(store.putJson('mem://c', circular)).rejects.toMatchObject({
      code: 'INVALID_PAYLOAD',
      message: expect.stringMatching(/cannot be serialised as JSON/),
    });
    await expect(store.putJson('mem://b', { n: 1n })).rejects.toMatchObject({ code: 'INVALID_PAYLOAD' });
  });

  it('get and head of a missing pointer fail with NOT_FOUND; delete is idempotent', async () => {
    const store = createPointerStore();
    await expect(store.get('mem://missing')).rejects.toMatchObject({
      name: 'PointerError',
      code: 'NOT_FOUND',
      uri: 'mem://missing',
      message: 'nothing is stored at mem://missing',
    });
    await expect(store.head('mem://missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await store.put('mem://gone', 'x');
    await store.delete('mem://gone');
    await store.delete('mem://gone');
    await expect(store.get('mem://gone')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('refuses payloads over maxBytes, naming the limit and the size', async () => {
    const store = createPointerStore({ maxBytes: 16 });
    await expect(store.put('mem://big', new Uint8Array(17))).rejects.toMatchObject({
      code: 'TOO_LARGE',
      message: 'payload at mem://big is 17 bytes; the limit (maxBytes) is 16 bytes',
    });
    await expect(store.put('mem://big', 'x'.repeat(16))).resolves.toMatchObject({ size: 16 });
    // Multi-byte characters count as bytes, not characters.
    await expect(store.put('mem://big', 'é'.repeat(9))).rejects.toMatchObject({ code: 'TOO_LARGE' });
  });

  it('bounds the total bytes held; replacing a value does not count twice', async () => {
    const store = createPointerStore({ mem: { maxTotalBytes: 10 } });
    await store.put('mem://a', new Uint8Array(6));
    await store.put('mem://a', new Uint8Array(8));
    await expect(store.put('mem://b', new Uint8Array(3))).rejects.toMatchObject({
      code: 'TOO_LARGE',
      message: 'mem store holds 8 bytes; adding 3 bytes for mem://b would exceed mem.maxTotalBytes (10 bytes)',
    });
    await store.delete('mem://a');
    await expect(store.put('mem://b', new Uint8Array(10))).resolves.toMatchObject({ size: 10 });
  });

  it('expired values read as EXPIRED, are then gone, and free their room for new puts', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
    const store = createPointerStore({ mem: { maxTotalBytes: 10 } });
    const info = await store.put('mem://t', 'abcdef', { ttlMs: 1000 });
    expect(info.expiresAt).toEqual(new Date('2030-01-01T00:00:01Z'));
    vi.setSystemTime(new Date('2030-01-01T00:00:00.999Z'));
    await expect(store.get('mem://t')).resolves.toMatchObject({ info: { size: 6 } });

    vi.setSystemTime(new Date('2030-01-01T00:00:01Z'));
    await expect(store.get('mem://t')).rejects.toMatchObject({
      code: 'EXPIRED',
      message: 'payload at mem://t expired at 2030-01-01T00:00:01.000Z',
    });
    await expect(store.get('mem://t')).rejects.toMatchObject({ code: 'NOT_FOUND' });

    await store.put('mem://u', 'abcdef', { ttlMs: 1000 });
    vi.setSystemTime(new Date('2030-01-01T00:00:05Z'));
    // Without sweeping the expired "u" this would exceed maxTotalBytes.
    await expect(store.put('mem://v', 'abcdefgh')).resolves.toMatchObject({ size: 8 });
    await expect(store.head('mem://u')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('applies defaultTtlMs unless a put gives its own ttlMs', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
    const store = createPointerStore({ defaultTtlMs: 60_000 });
    expect((await store.put('mem://d', 'x')).expiresAt).toEqual(new Date('2030-01-01T00:01:00Z'));
    expect((await store.put('mem://o', 'x', { ttlMs: 5 })).expiresAt).toEqual(new Date('2030-01-01T00:00:00.005Z'));
    vi.setSystemTime(new Date('2030-01-01T00:00:30Z'));
    await expect(store.head('mem://o')).rejects.toMatchObject({ code: 'EXPIRED' });
    await expect(store.head('mem://d')).resolves.toMatchObject({ hasMetadata: true });
  });

  it('detects tampered payloads with CHECKSUM_MISMATCH', async () => {
    const backend = createMemBackend({ maxTotalBytes: 1024 });
    const store = assemblePointerStore(resolvePointerStoreOptions(), { mem: backend });
    const info = await store.put('mem://x', 'payload');
    backend.entries.get('x')!.data[0] = 'P'.charCodeAt(0);
    await expect(store.get('mem://x')).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
      message: `payload at mem://x does not match its metadata: read 7 bytes with sha256 ${sha256('Payload')}, expected 7 bytes with sha256 ${info.sha256}`,
    });
  });

  it('rejects bad per-call options and payload types', async () => {
    const store = createPointerStore();
    await expect(store.put('mem://x', 'x', { ttlMs: 0 })).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
      message: 'put option ttlMs must be a positive integer; got 0',
    });
    await expect(store.put('mem://x', 'x', { ttlMs: 1.5 })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    await expect(store.put('mem://x', 'x', { contentType: 'text/plain\r\nX-Evil: 1' })).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
      message: expect.stringMatching(/contentType must be 1-255 printable ASCII characters/),
    });
    await expect(store.put('mem://x', 42 as unknown as string)).rejects.toMatchObject({
      code: 'INVALID_PAYLOAD',
      message: 'payload for mem://x must be a Uint8Array or a string; got number',
    });
  });

  it('rejects unknown schemes and schemes this store does not serve', async () => {
    const store = createPointerStore();
    await expect(store.get('ftp://host/x')).rejects.toMatchObject({ code: 'SCHEME_NOT_ALLOWED' });
    await expect(store.put('redis://ctx:1', 'x')).rejects.toMatchObject({
      code: 'SCHEME_NOT_ALLOWED',
      message: 'pointer scheme "redis" of redis://ctx:1 is not enabled in this pointer store; enabled schemes: mem',
    });
    await expect(store.get('not a pointer')).rejects.toMatchObject({ code: 'INVALID_POINTER' });
  });

  it('refuses every call after close', async () => {
    const store = createPointerStore();
    await store.put('mem://x', 'x');
    await store.close();
    await store.close();
    await expect(store.get('mem://x')).rejects.toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
      message: 'pointer store is closed; cannot read mem://x',
    });
  });
});
