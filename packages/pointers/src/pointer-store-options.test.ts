import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_BYTES, DEFAULT_MEM_MAX_TOTAL_BYTES } from './pointer-limits.js';
import { type PointerStoreOptions, resolvePointerStoreOptions } from './pointer-store-options.js';

const s3 = { allowedBuckets: ['bucket-a'], region: 'us-east-1' };

function invalid(options: PointerStoreOptions, message: RegExp): void {
  expect(() => resolvePointerStoreOptions(options)).toThrow(
    expect.objectContaining({ name: 'PointerError', code: 'INVALID_OPTIONS', message: expect.stringMatching(message) }),
  );
}

describe('resolvePointerStoreOptions', () => {
  it('fills the documented defaults', () => {
    expect(resolvePointerStoreOptions()).toEqual({
      maxBytes: DEFAULT_MAX_BYTES,
      allowedSchemes: ['mem'],
      defaultTtlMs: undefined,
      redis: undefined,
      s3: undefined,
      file: undefined,
      mem: { maxTotalBytes: DEFAULT_MEM_MAX_TOTAL_BYTES },
    });
    expect(DEFAULT_MAX_BYTES).toBe(8 * 1024 * 1024);
  });

  it('allows every configured backend by default, and mem', () => {
    const resolved = resolvePointerStoreOptions({ redis: 'redis://127.0.0.1:1', s3, file: { root: '/tmp/x' } });
    expect(resolved.allowedSchemes).toEqual(['redis', 's3', 'mem', 'file']);
    expect(resolved.s3).toEqual({
      allowedBuckets: ['bucket-a'],
      allowedPrefixes: undefined,
      endpoint: undefined,
      region: 'us-east-1',
      credentials: undefined,
      forcePathStyle: false,
    });
  });

  it('keeps an explicit allowedSchemes list, deduplicated', () => {
    const resolved = resolvePointerStoreOptions({ redis: 'redis://h:1', allowedSchemes: ['redis', 'redis'] });
    expect(resolved.allowedSchemes).toEqual(['redis']);
  });

  it.each([
    [{ maxBytes: 0 }, /maxBytes must be a positive integer; got 0/],
    [{ maxBytes: 1.5 }, /maxBytes must be a positive integer; got 1.5/],
    [{ defaultTtlMs: -1 }, /defaultTtlMs must be a positive integer; got -1/],
    [{ mem: { maxTotalBytes: Number.NaN } }, /mem.maxTotalBytes must be a positive integer; got NaN/],
    [{ allowedSchemes: [] }, /allowedSchemes must be a non-empty array/],
    [{ allowedSchemes: ['gs'] }, /allowedSchemes contains "gs"; expected only redis, s3, mem, file/],
    [{ allowedSchemes: ['s3'] }, /allowedSchemes lists "s3" but no "s3" backend option is configured/],
    [{ redis: 'localhost:6379' }, /redis must be an ioredis client or a redis:\/\/ or rediss:\/\/ URL/],
    [{ redis: {} }, /redis must be an ioredis client/],
    [{ s3: { ...s3, allowedBuckets: [] } }, /s3.allowedBuckets must list at least one bucket/],
    [
      { s3: { ...s3, allowedBuckets: ['Not_A_Bucket'] } },
      /allowedBuckets contains "Not_A_Bucket", which is not a valid/,
    ],
    [{ s3: { ...s3, allowedPrefixes: [] } }, /s3.allowedPrefixes must be a non-empty array/],
    [{ s3: { ...s3, allowedPrefixes: [''] } }, /s3.allowedPrefixes contains ""; expected non-empty key prefixes/],
    [{ s3: { ...s3, region: '' } }, /s3.region must be a non-empty AWS region name/],
    [{ s3: { ...s3, endpoint: 'not a url' } }, /s3.endpoint must be an absolute URL/],
    [{ s3: { ...s3, forcePathStyle: 'yes' } }, /s3.forcePathStyle must be a boolean/],
    [{ file: { root: '' } }, /file.root must be a non-empty directory path/],
  ])('rejects %j', (options, message) => invalid(options as PointerStoreOptions, message));
});
