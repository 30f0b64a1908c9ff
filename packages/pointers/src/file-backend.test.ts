import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPointerStore } from './create-pointer-store.js';
import { FILE_META_SUFFIX } from './file-backend.js';
import type { PointerStore } from './pointer-store.js';

let base: string;
let root: string;
let outside: string;
let store: PointerStore;

beforeEach(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'capstan-pointers-file-'));
  root = path.join(base, 'root');
  outside = path.join(base, 'outside');
  await mkdir(outside);
  store = createPointerStore({ file: { root }, maxBytes: 64 });
});

afterEach(async () => {
  vi.useRealTimers();
  await store.close();
  await rm(base, { recursive: true, force: true });
});

describe('file pointer store', () => {
  it('writes the raw payload under the root with a JSON sidecar, and reads it back verified', async () => {
    const info = await store.putJson('file://jobs/42/input.json', { prompt: 'hi' }, { ttlMs: 60_000 });
    const onDisk = path.join(root, 'jobs', '42', 'input.json');
    expect(await readFile(onDisk, 'utf8')).toBe('{"prompt":"hi"}');
    const sidecar = JSON.parse(await readFile(onDisk + FILE_META_SUFFIX, 'utf8'));
    expect(sidecar).toEqual({
      contentType: 'application/json',
      sha256: createHash('sha256').update('{"prompt":"hi"}').digest('hex'),
      size: '15',
      createdAt: info.createdAt!.toISOString(),
      expiresAt: info.expiresAt!.toISOString(),
    });
    expect(await store.getJson('file://jobs/42/input.json')).toEqual({ prompt: 'hi' });
    expect(await store.head('file://jobs/42/input.json')).toEqual(info);
    // The temp files of the atomic write are gone.
    expect((await readdir(path.join(root, 'jobs', '42'))).sort()).toEqual(['input.json', 'input.json.meta.json']);
  });

  it('overwrites atomically and deletes payload and sidecar', async () => {
    await store.put('file://a.txt', 'one');
    await store.put('file://a.txt', 'two!');
    expect(Buffer.from((await store.get('file://a.txt')).data).toString()).toBe('two!');
    await store.delete('file://a.txt');
    await store.delete('file://a.txt');
    expect(await readdir(root)).toEqual([]);
    await expect(store.get('file://a.txt')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('loads files written by someone else without a sidecar, computing size and sha256', async () => {
    await mkdir(root, { recursive: true });
    await writeFile(path.join(root, 'third-party.json'), '{"x":1}');
    const mtime = new Date('2029-05-05T05:05:05Z');
    await utimes(path.join(root, 'third-party.json'), mtime, mtime);
    const loaded = await store.get('file://third-party.json');
    expect(loaded.info).toEqual({
      uri: 'file://third-party.json',
      size: 7,
      sha256: createHash('sha256').update('{"x":1}').digest('hex'),
      contentType: 'application/octet-stream',
      createdAt: mtime,
      hasMetadata: false,
    });
    expect(await store.head('file://third-party.json')).toEqual(loaded.info);
  });

  it('detects a tampered payload or sidecar with CHECKSUM_MISMATCH', async () => {
    await store.put('file://t.txt', 'original');
    await writeFile(path.join(root, 't.txt'), 'tampered');
    await expect(store.get('file://t.txt')).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
      message: expect.stringMatching(/payload at file:\/\/t.txt does not match its metadata/),
    });
    await writeFile(path.join(root, 't.txt'), 'longer than before');
    await expect(store.head('file://t.txt')).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
      message: 'payload at file://t.txt is 18 bytes but its metadata records 8 bytes',
    });
    await writeFile(path.join(root, `t.txt${FILE_META_SUFFIX}`), '{not json');
    await expect(store.get('file://t.txt')).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
      message: expect.stringMatching(/metadata stored for file:\/\/t.txt is unreadable/),
    });
  });

  it('enforces maxBytes on put and, before reading, on files that grew on disk', async () => {
    await expect(store.put('file://big', new Uint8Array(65))).rejects.toMatchObject({
      code: 'TOO_LARGE',
      message: 'payload at file://big is 65 bytes; the limit (maxBytes) is 64 bytes',
    });
    expect(existsSync(path.join(root, 'big'))).toBe(false);
    await mkdir(root, { recursive: true });
    await writeFile(path.join(root, 'big'), new Uint8Array(1000));
    await expect(store.get('file://big')).rejects.toMatchObject({
      code: 'TOO_LARGE',
      message: 'payload at file://big is 1000 bytes; the limit (maxBytes) is 64 bytes',
    });
  });

  it('reports expired payloads as EXPIRED and removes them', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
    await store.put('file://ttl/x', 'short-lived', { ttlMs: 500 });
    await expect(store.head('file://ttl/x')).resolves.toMatchObject({ size: 11 });
    vi.setSystemTime(new Date('2030-01-01T00:00:00.500Z'));
    await expect(store.get('file://ttl/x')).rejects.toMatchObject({
      code: 'EXPIRED',
      message: 'payload at file://ttl/x expired at 2030-01-01T00:00:00.500Z',
    });
    expect(await readdir(path.join(root, 'ttl'))).toEqual([]);
    await expect(store.get('file://ttl/x')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('refuses traversal in the pointer itself', async () => {
    await expect(store.put('file://../outside/evil', 'x')).rejects.toMatchObject({ code: 'INVALID_POINTER' });
    await expect(store.get('file:///etc/passwd')).rejects.toMatchObject({ code: 'INVALID_POINTER' });
    expect(await readdir(outside)).toEqual([]);
  });

  it('refuses paths that leave the root through a symlinked directory, creating nothing outside', async () => {
    await mkdir(root, { recursive: true });
    await symlink(outside, path.join(root, 'escape'));
    await writeFile(path.join(outside, 'secret'), 'top secret');
    const notAllowed = { code: 'NOT_ALLOWED', message: expect.stringMatching(/resolves outside the file store root/) };
    await expect(store.put('file://escape/new/deep/file', 'x')).rejects.toMatchObject(notAllowed);
    await expect(store.put('file://escape/file', 'x')).rejects.toMatchObject(notAllowed);
    await expect(store.get('file://escape/secret')).rejects.toMatchObject(notAllowed);
    await expect(store.head('file://escape/secret')).rejects.toMatchObject(notAllowed);
    await expect(store.delete('file://escape/secret')).rejects.toMatchObject(notAllowed);
    expect((await readdir(outside)).sort()).toEqual(['secret']);
    expect(await readFile(path.join(outside, 'secret'), 'utf8')).toBe('top secret');
  });

  it('refuses a symlinked file that points outside the root', async () => {
    await mkdir(root, { recursive: true });
    await writeFile(path.join(outside, 'secret'), 'top secret');
    await symlink(path.join(outside, 'secret'), path.join(root, 'link'));
    await expect(store.get('file://link')).rejects.toMatchObject({ code: 'NOT_ALLOWED' });
  });

  it('refuses reserved sidecar and temp names, and directories', async () => {
    await expect(store.put(`file://x${FILE_META_SUFFIX}`, '{}')).rejects.toMatchObject({
      code: 'INVALID_POINTER',
      message: expect.stringMatching(/names a reserved file/),
    });
    await expect(store.get('file://x.capstan-tmp')).rejects.toMatchObject({ code: 'INVALID_POINTER' });
    await mkdir(path.join(root, 'dir'), { recursive: true });
    await expect(store.get('file://dir')).rejects.toMatchObject({
      code: 'INVALID_POINTER',
      message: 'file pointer file://dir names a directory; expected a regular file',
    });
  });

  it('reads NOT_FOUND before the root exists', async () => {
    await expect(store.get('file://nothing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(existsSync(root)).toBe(false);
  });
});
