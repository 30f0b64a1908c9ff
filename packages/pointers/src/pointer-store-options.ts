import type { S3ClientConfig } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import { isPointerScheme, POINTER_SCHEMES, type PointerScheme, parsePointer } from './parse-pointer.js';
import { PointerError } from './pointer-errors.js';
import { DEFAULT_MAX_BYTES, DEFAULT_MEM_MAX_TOTAL_BYTES } from './pointer-limits.js';

/** S3 backend options (`s3://` pointers). */
export interface S3PointerOptions {
  /** Buckets the store may read and write; a pointer to any other bucket fails with NOT_ALLOWED. Must not be empty. */
  allowedBuckets: readonly string[];
  /**
   * Key prefixes the store may touch (in any allowed bucket); other keys fail with NOT_ALLOWED.
   * @default undefined: every key in an allowed bucket
   */
  allowedPrefixes?: readonly string[];
  /**
   * Endpoint URL of an S3-compatible server (MinIO, s3rver, …).
   * @default undefined: AWS's regional endpoint
   */
  endpoint?: string;
  /** AWS region, e.g. `us-east-1`. */
  region: string;
  /**
   * Static credentials or a provider.
   * @default undefined: the AWS SDK's default credential chain (env, profile, instance role)
   */
  credentials?: S3ClientConfig['credentials'];
  /**
   * Address buckets as `<endpoint>/<bucket>` instead of `<bucket>.<endpoint>`; needed by most S3-compatible servers.
   * @default false
   */
  forcePathStyle?: boolean;
}

/** File backend options (`file://` pointers). */
export interface FilePointerOptions {
  /** Directory every `file://` path is resolved under; created on first write. Nothing outside it is touched. */
  root: string;
}

/** In-process backend options (`mem://` pointers). */
export interface MemPointerOptions {
  /**
   * Bound on the bytes held in total; a put that would exceed it fails with TOO_LARGE (values are never evicted,
   * because a pointer that silently dangles is worse than a refused write).
   * @default 67108864 (64 MiB)
   */
  maxTotalBytes?: number;
}

/** Options for `createPointerStore`. */
export interface PointerStoreOptions {
  /**
   * Largest payload accepted by `put` and loaded by `get`, in bytes. Reads check the size before downloading.
   * @default 8388608 (8 MiB)
   */
  maxBytes?: number;
  /**
   * Schemes this store serves; others fail with SCHEME_NOT_ALLOWED. Each listed scheme needs its backend configured
   * (`mem` needs nothing).
   * @default every scheme whose backend is configured, plus `mem`
   */
  allowedSchemes?: readonly PointerScheme[];
  /**
   * TTL in milliseconds applied to puts that give no `ttlMs`.
   * @default undefined: payloads never expire
   */
  defaultTtlMs?: number;
  /**
   * Redis for `redis://` pointers: an ioredis client (the caller keeps ownership; `close()` leaves it open) or a
   * `redis://` / `rediss://` connection URL (the store connects lazily and disconnects on `close()`).
   * @default undefined: `redis://` pointers are not served
   */
  redis?: Redis | string;
  /**
   * S3 for `s3://` pointers.
   * @default undefined: `s3://` pointers are not served
   */
  s3?: S3PointerOptions;
  /**
   * File root for `file://` pointers.
   * @default undefined: `file://` pointers are not served
   */
  file?: FilePointerOptions;
  /**
   * In-process `mem://` backend.
   * @default { maxTotalBytes: 67108864 }
   */
  mem?: MemPointerOptions;
}

/** {@link S3PointerOptions} after validation. */
export interface ResolvedS3PointerOptions {
  allowedBuckets: readonly string[];
  allowedPrefixes: readonly string[] | undefined;
  endpoint: string | undefined;
  region: string;
  credentials: S3ClientConfig['credentials'] | undefined;
  forcePathStyle: boolean;
}

/** {@link PointerStoreOptions} with defaults filled in and every value validated. */
export interface ResolvedPointerStoreOptions {
  maxBytes: number;
  allowedSchemes: readonly PointerScheme[];
  defaultTtlMs: number | undefined;
  redis: Redis | string | undefined;
  s3: ResolvedS3PointerOptions | undefined;
  file: { root: string } | undefined;
  mem: { maxTotalBytes: number };
}

/**
 * Fills defaults and validates {@link PointerStoreOptions} once.
 *
 * @throws {PointerError} `INVALID_OPTIONS` naming the option and what is expected.
 */
export function resolvePointerStoreOptions(options: PointerStoreOptions = {}): ResolvedPointerStoreOptions {
  const maxBytes = positiveInteger(options.maxBytes, 'maxBytes') ?? DEFAULT_MAX_BYTES;
  const defaultTtlMs = positiveInteger(options.defaultTtlMs, 'defaultTtlMs');
  const redis = resolveRedis(options.redis);
  const s3 = options.s3 === undefined ? undefined : resolveS3(options.s3);
  const file = options.file === undefined ? undefined : resolveFile(options.file);
  const mem = {
    maxTotalBytes: positiveInteger(options.mem?.maxTotalBytes, 'mem.maxTotalBytes') ?? DEFAULT_MEM_MAX_TOTAL_BYTES,
  };
  const configured: Record<PointerScheme, boolean> = {
    redis: redis !== undefined,
    s3: s3 !== undefined,
    file: file !== undefined,
    mem: true,
  };
  let allowedSchemes: readonly PointerScheme[];
  if (options.allowedSchemes === undefined) {
    allowedSchemes = POINTER_SCHEMES.filter((scheme) => configured[scheme]);
  } else {
    if (!Array.isArray(options.allowedSchemes) || options.allowedSchemes.length === 0) {
      throw optionError(`allowedSchemes must be a non-empty array of ${POINTER_SCHEMES.join(', ')}`);
    }
    for (const scheme of options.allowedSchemes) {
      if (!isPointerScheme(scheme)) {
        throw optionError(
          `allowedSchemes contains ${JSON.stringify(scheme)}; expected only ${POINTER_SCHEMES.join(', ')}`,
        );
      }
      if (!configured[scheme]) {
        throw optionError(`allowedSchemes lists "${scheme}" but no "${scheme}" backend option is configured`);
      }
    }
    allowedSchemes = [...new Set(options.allowedSchemes)];
  }
  return { maxBytes, allowedSchemes, defaultTtlMs, redis, s3, file, mem };
}

/** Validates a per-call `ttlMs` (undefined stays undefined). */
export function resolvePutTtlMs(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new PointerError('INVALID_OPTIONS', `put option ttlMs must be a positive integer; got ${String(value)}`);
  }
  return value;
}

function resolveRedis(redis: PointerStoreOptions['redis']): Redis | string | undefined {
  if (redis === undefined) return undefined;
  if (typeof redis === 'string') {
    if (!/^rediss?:\/\/./.test(redis)) {
      throw optionError(`redis must be an ioredis client or a redis:// or rediss:// URL; got ${JSON.stringify(redis)}`);
    }
    return redis;
  }
  if (typeof redis !== 'object' || redis === null || typeof (redis as Redis).multi !== 'function') {
    throw optionError('redis must be an ioredis client or a redis:// or rediss:// URL');
  }
  return redis;
}

function resolveS3(s3: S3PointerOptions): ResolvedS3PointerOptions {
  if (typeof s3 !== 'object' || s3 === null) throw optionError('s3 must be an object with allowedBuckets and region');
  if (!Array.isArray(s3.allowedBuckets) || s3.allowedBuckets.length === 0) {
    throw optionError('s3.allowedBuckets must list at least one bucket; the store refuses buckets not listed');
  }
  for (const bucket of s3.allowedBuckets) {
    try {
      parsePointer(`s3://${bucket}/x`);
    } catch (cause) {
      throw optionError(
        `s3.allowedBuckets contains ${JSON.stringify(bucket)}, which is not a valid bucket name`,
        cause,
      );
    }
  }
  let allowedPrefixes: readonly string[] | undefined;
  if (s3.allowedPrefixes !== undefined) {
    if (!Array.isArray(s3.allowedPrefixes) || s3.allowedPrefixes.length === 0) {
      throw optionError('s3.allowedPrefixes must be a non-empty array of key prefixes; omit it to allow every key');
    }
    for (const prefix of s3.allowedPrefixes) {
      if (typeof prefix !== 'string' || prefix === '') {
        throw optionError(
          `s3.allowedPrefixes contains ${JSON.stringify(prefix)}; expected non-empty key prefixes like "jobs/"`,
        );
      }
    }
    allowedPrefixes = [...s3.allowedPrefixes];
  }
  if (typeof s3.region !== 'string' || s3.region === '') {
    throw optionError('s3.region must be a non-empty AWS region name, e.g. "us-east-1"');
  }
  if (s3.endpoint !== undefined) {
    if (typeof s3.endpoint !== 'string' || !URL.canParse(s3.endpoint)) {
      throw optionError(`s3.endpoint must be an absolute URL like http://127.0.0.1:9000; got ${String(s3.endpoint)}`);
    }
  }
  if (s3.forcePathStyle !== undefined && typeof s3.forcePathStyle !== 'boolean') {
    throw optionError(`s3.forcePathStyle must be a boolean; got ${JSON.stringify(s3.forcePathStyle)}`);
  }
  return {
    allowedBuckets: [...s3.allowedBuckets],
    allowedPrefixes,
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: s3.credentials,
    forcePathStyle: s3.forcePathStyle ?? false,
  };
}

function resolveFile(file: FilePointerOptions): { root: string } {
  if (typeof file !== 'object' || file === null || typeof file.root !== 'string' || file.root === '') {
    throw optionError('file.root must be a non-empty directory path');
  }
  return { root: file.root };
}

function positiveInteger(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw optionError(
      `${name} must be a positive integer; got ${typeof value === 'number' ? value : JSON.stringify(value)}`,
    );
  }
  return value;
}

function optionError(message: string, cause?: unknown): PointerError {
  return new PointerError('INVALID_OPTIONS', `pointer store option ${message}`, { cause });
}
