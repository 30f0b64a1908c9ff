import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort, type S3Handle, startS3 } from '@capstan/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPointerStore } from './create-pointer-store.js';
import type { PointerStore } from './pointer-store.js';
import type { S3PointerOptions } from './pointer-store-options.js';
import { S3_POINTER_METADATA } from './s3-backend.js';

const BUCKET = 'capstan-pointers';
const OTHER_BUCKET = 'not-allow-listed';
const sha256 = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let s3: S3Handle;
let raw: S3Client;
let store: PointerStore;

function s3Options(overrides: Partial<S3PointerOptions> = {}): S3PointerOptions {
  return {
    allowedBuckets: [BUCKET],
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    forcePathStyle: true,
    ...overrides,
  };
}

async function rawBody(key: string, bucket = BUCKET): Promise<string> {
  const response = await raw.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return response.Body!.transformToString();
}

beforeAll(async () => {
  s3 = await startS3({ buckets: [BUCKET, OTHER_BUCKET] });
  raw = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    forcePathStyle: true,
  });
  store = createPointerStore({ s3: s3Options(), maxBytes: 1024 });
});

afterAll(async () => {
  await store?.close();
  raw?.destroy();
  await s3?.stop();
});

describe('s3 pointer store (real s3rver)', () => {
  it('round-trips a payload stored as the raw object, with content type and sha256 as object metadata', async () => {
    const uri = `s3://${BUCKET}/jobs/1/input.json`;
    const info = await store.putJson(uri, { prompt: 'hello' });
    expect(info).toMatchObject({ uri, size: 18, sha256: sha256('{"prompt":"hello"}'), hasMetadata: true });

    expect(await rawBody('jobs/1/input.json')).toBe('{"prompt":"hello"}');
    const head = await raw.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'jobs/1/input.json' }));
    expect(head.ContentType).toBe('application/json');
    expect(head.Metadata).toMatchObject({
      [S3_POINTER_METADATA.sha256]: info.sha256,
      [S3_POINTER_METADATA.size]: '18',
      [S3_POINTER_METADATA.createdAt]: info.createdAt!.toISOString(),
    });

    const loaded = await store.get(uri);
    expect(loaded.info).toEqual(info);
    expect(await store.getJson(uri)).toEqual({ prompt: 'hello' });
    expect(await store.head({ scheme: 's3', bucket: BUCKET, key: 'jobs/1/input.json' })).toEqual(info);
  });

  it('round-trips binary payloads byte for byte', async () => {
    const data = new Uint8Array(300).map((_, i) => (i * 7) % 256);
    await store.put(`s3://${BUCKET}/bin`, data);
    expect((await store.get(`s3://${BUCKET}/bin`)).data).toEqual(data);
  });

  it('loads objects written without Capstan metadata', async () => {
    await raw.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'third/party.json',
        Body: '{"a":1}',
        ContentType: 'application/json',
      }),
    );
    const loaded = await store.get(`s3://${BUCKET}/third/party.json`);
    expect(loaded.info).toMatchObject({
      size: 7,
      sha256: sha256('{"a":1}'),
      contentType: 'application/json',
      hasMetadata: false,
    });
    expect(loaded.info.createdAt).toBeInstanceOf(Date);
    expect(await store.head(`s3://${BUCKET}/third/party.json`)).toMatchObject({ size: 7, hasMetadata: false });
  });

  it('enforces maxBytes on put and on get (from ContentLength, before the body is read)', async () => {
    await expect(store.put(`s3://${BUCKET}/big`, new Uint8Array(2048))).rejects.toMatchObject({
      code: 'TOO_LARGE',
      message: `payload at s3://${BUCKET}/big is 2048 bytes; the limit (maxBytes) is 1024 bytes`,
    });
    await raw.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'huge', Body: 'x'.repeat(100_000) }));
    await expect(store.get(`s3://${BUCKET}/huge`)).rejects.toMatchObject({
      code: 'TOO_LARGE',
      message: `payload at s3://${BUCKET}/huge is 100000 bytes; the limit (maxBytes) is 1024 bytes`,
    });
    // The connection of the refused body was released: the store keeps working.
    await store.put(`s3://${BUCKET}/after-huge`, 'ok');
    expect(Buffer.from((await store.get(`s3://${BUCKET}/after-huge`)).data).toString()).toBe('ok');
  });

  it('rejects buckets and prefixes that are not allow-listed, even when they exist', async () => {
    await expect(store.put(`s3://${OTHER_BUCKET}/x`, 'x')).rejects.toMatchObject({
      code: 'NOT_ALLOWED',
      message: `s3 bucket "${OTHER_BUCKET}" of s3://${OTHER_BUCKET}/x is not allow-listed; allowed buckets: ${BUCKET}`,
    });
    await raw.send(new PutObjectCommand({ Bucket: OTHER_BUCKET, Key: 'x', Body: 'secret' }));
    await expect(store.get(`s3://${OTHER_BUCKET}/x`)).rejects.toMatchObject({ code: 'NOT_ALLOWED' });
    await expect(store.delete(`s3://${OTHER_BUCKET}/x`)).rejects.toMatchObject({ code: 'NOT_ALLOWED' });
    expect(await rawBody('x', OTHER_BUCKET)).toBe('secret');

    const prefixed = createPointerStore({ s3: s3Options({ allowedPrefixes: ['jobs/'] }) });
    await expect(prefixed.put(`s3://${BUCKET}/jobs/ok`, 'x')).resolves.toMatchObject({ size: 1 });
    await expect(prefixed.get(`s3://${BUCKET}/elsewhere`)).rejects.toMatchObject({
      code: 'NOT_ALLOWED',
      message: `s3 key "elsewhere" of s3://${BUCKET}/elsewhere is outside the allow-listed prefixes; allowed prefixes: jobs/`,
    });
    await prefixed.close();
  });

  it('rejects unknown schemes and traversal in keys', async () => {
    await expect(store.get('gs://bucket/key')).rejects.toMatchObject({ code: 'SCHEME_NOT_ALLOWED' });
    await expect(store.get('redis://ctx:1')).rejects.toMatchObject({ code: 'SCHEME_NOT_ALLOWED' });
    await expect(store.put(`s3://${BUCKET}/a/../b`, 'x')).rejects.toMatchObject({ code: 'INVALID_POINTER' });
  });

  it('records the TTL in metadata and reads expired objects as EXPIRED', async () => {
    const uri = `s3://${BUCKET}/ttl/short`;
    const info = await store.put(uri, 'soon gone', { ttlMs: 300 });
    const head = await raw.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'ttl/short' }));
    expect(head.Metadata?.[S3_POINTER_METADATA.expiresAt]).toBe(info.expiresAt!.toISOString());
    await expect(store.get(uri)).resolves.toMatchObject({ info: { size: 9 } });
    await sleep(400);
    const expired = { code: 'EXPIRED', message: `payload at ${uri} expired at ${info.expiresAt!.toISOString()}` };
    await expect(store.get(uri)).rejects.toMatchObject(expired);
    await expect(store.head(uri)).rejects.toMatchObject(expired);
    // The object itself is left for bucket lifecycle rules.
    expect(await rawBody('ttl/short')).toBe('soon gone');
  });

  it('detects an object replaced behind its metadata with CHECKSUM_MISMATCH', async () => {
    await store.put(`s3://${BUCKET}/tamper`, 'original');
    const head = await raw.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'tamper' }));
    await raw.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'tamper', Body: 'tampered', Metadata: head.Metadata }));
    await expect(store.get(`s3://${BUCKET}/tamper`)).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
  });

  it('reports missing objects as NOT_FOUND and deletes idempotently', async () => {
    await expect(store.get(`s3://${BUCKET}/missing`)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(store.head(`s3://${BUCKET}/missing`)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await store.put(`s3://${BUCKET}/del`, 'x');
    await store.delete(`s3://${BUCKET}/del`);
    await store.delete(`s3://${BUCKET}/del`);
    await expect(store.get(`s3://${BUCKET}/del`)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('reports an unreachable endpoint as BACKEND_UNAVAILABLE', async () => {
    const port = await freePort();
    const unreachable = createPointerStore({ s3: s3Options({ endpoint: `http://127.0.0.1:${port}` }) });
    await expect(unreachable.put(`s3://${BUCKET}/x`, 'x')).rejects.toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
      message: expect.stringMatching(new RegExp(`^s3 backend failed to write s3://${BUCKET}/x: `)),
    });
    await unreachable.close();
  });
});
