import { PointerError } from './pointer-errors.js';
import { MAX_POINTER_URI_LENGTH, MAX_S3_KEY_BYTES } from './pointer-limits.js';

/** Pointer schemes Capstan understands, in the order they are listed in messages. */
export const POINTER_SCHEMES = ['redis', 's3', 'mem', 'file'] as const;

/** One of {@link POINTER_SCHEMES}. */
export type PointerScheme = (typeof POINTER_SCHEMES)[number];

/** `redis://<key>`: the Redis key is everything after `redis://`, verbatim (CAP/Cordum convention). */
export interface RedisPointer {
  readonly scheme: 'redis';
  /** Redis key, e.g. `ctx:<job_id>`. */
  readonly key: string;
}

/** `s3://<bucket>/<key>`. */
export interface S3Pointer {
  readonly scheme: 's3';
  /** Bucket name (S3 naming rules: 3–63 lowercase letters, digits, dots, hyphens). */
  readonly bucket: string;
  /** Object key: everything after the first `/` following the bucket. */
  readonly key: string;
}

/** `mem://<key>`: in-process store, for tests and single-process development. */
export interface MemPointer {
  readonly scheme: 'mem';
  /** Key in the in-process map. */
  readonly key: string;
}

/** `file://<relative/path>`: a file under the file backend's root directory. */
export interface FilePointer {
  readonly scheme: 'file';
  /** Path relative to the store's root, `/`-separated, never absolute. */
  readonly path: string;
}

/** A parsed pointer, discriminated by `scheme`. */
export type Pointer = RedisPointer | S3Pointer | MemPointer | FilePointer;

/** Narrows {@link Pointer} to the variant for scheme `S`. */
export type PointerOf<S extends PointerScheme> = Extract<Pointer, { scheme: S }>;

const SCHEME_PATTERN = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s;
// S3 bucket naming rules (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
const BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IPV4_PATTERN = /^\d+\.\d+\.\d+\.\d+$/;
const EXAMPLE = 'e.g. redis://ctx:<job_id>, s3://<bucket>/<key>, mem://<key> or file://<relative/path>';

/** True when `value` is one of {@link POINTER_SCHEMES}. */
export function isPointerScheme(value: unknown): value is PointerScheme {
  return typeof value === 'string' && (POINTER_SCHEMES as readonly string[]).includes(value);
}

/**
 * Parses a pointer URI into a {@link Pointer}. No percent-decoding is done: CAP workers take the Redis key as the raw
 * text after `redis://`, so every scheme treats what follows the scheme verbatim.
 *
 * @throws {PointerError} `INVALID_POINTER` for malformed input (empty, over-long, control characters, empty key,
 *   `.`/`..` segments in S3 keys or file paths, absolute file paths, bad bucket names) and `SCHEME_NOT_ALLOWED`
 *   for schemes other than {@link POINTER_SCHEMES}.
 */
export function parsePointer(uri: string): Pointer {
  if (typeof uri !== 'string') {
    throw invalid(String(uri), `pointer must be a string (${EXAMPLE}); got ${typeof uri}`);
  }
  if (uri === '') throw invalid(uri, `pointer is empty; expected <scheme>://<key>, ${EXAMPLE}`);
  if (uri.length > MAX_POINTER_URI_LENGTH) {
    throw invalid(
      uri.slice(0, 64),
      `pointer is ${uri.length} characters long; at most ${MAX_POINTER_URI_LENGTH} are allowed`,
    );
  }
  assertNoControlCharacters(uri, 'pointer');
  const match = SCHEME_PATTERN.exec(uri);
  if (!match) throw invalid(uri, `pointer ${JSON.stringify(uri)} has no <scheme>:// prefix; ${EXAMPLE}`);
  const scheme = match[1]!;
  const rest = match[2]!;
  if (!isPointerScheme(scheme)) {
    if (isPointerScheme(scheme.toLowerCase())) {
      throw invalid(uri, `pointer scheme ${JSON.stringify(scheme)} must be lowercase (${scheme.toLowerCase()}://)`);
    }
    throw new PointerError(
      'SCHEME_NOT_ALLOWED',
      `pointer scheme ${JSON.stringify(scheme)} is not supported; expected one of ${POINTER_SCHEMES.join(', ')}`,
      { uri },
    );
  }
  switch (scheme) {
    case 'redis':
    case 'mem':
      if (rest === '') throw invalid(uri, `${scheme} pointer has an empty key; expected ${scheme}://<key>`);
      return { scheme, key: rest };
    case 's3':
      return parseS3(uri, rest);
    case 'file':
      return parseFile(uri, rest);
  }
}

/**
 * Formats a {@link Pointer} as its URI and checks that it parses back to the same pointer, so a URI built here is
 * always accepted by {@link parsePointer}.
 *
 * @throws {PointerError} the same codes as {@link parsePointer}.
 */
export function formatPointer(pointer: Pointer): string {
  if (typeof pointer !== 'object' || pointer === null) {
    throw invalid(String(pointer), 'pointer target must be an object like { scheme: "redis", key: "ctx:1" }');
  }
  let uri: string;
  switch (pointer.scheme) {
    case 'redis':
    case 'mem':
      requireString(pointer.key, `${pointer.scheme} pointer key`);
      uri = `${pointer.scheme}://${pointer.key}`;
      break;
    case 's3':
      requireString(pointer.bucket, 's3 pointer bucket');
      requireString(pointer.key, 's3 pointer key');
      if (pointer.bucket.includes('/')) {
        throw invalid(`s3://${pointer.bucket}`, `s3 bucket ${JSON.stringify(pointer.bucket)} must not contain "/"`);
      }
      uri = `s3://${pointer.bucket}/${pointer.key}`;
      break;
    case 'file':
      requireString(pointer.path, 'file pointer path');
      uri = `file://${pointer.path}`;
      break;
    default: {
      const scheme = (pointer as { scheme?: unknown }).scheme;
      throw new PointerError(
        'SCHEME_NOT_ALLOWED',
        `pointer scheme ${JSON.stringify(scheme)} is not supported; expected one of ${POINTER_SCHEMES.join(', ')}`,
      );
    }
  }
  parsePointer(uri);
  return uri;
}

function parseS3(uri: string, rest: string): S3Pointer {
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const key = slash === -1 ? '' : rest.slice(slash + 1);
  if (bucket === '') throw invalid(uri, 's3 pointer has an empty bucket; expected s3://<bucket>/<key>');
  if (!BUCKET_PATTERN.test(bucket) || bucket.includes('..') || IPV4_PATTERN.test(bucket)) {
    throw invalid(
      uri,
      `s3 bucket ${JSON.stringify(bucket)} is not a valid bucket name; expected 3-63 lowercase letters, digits, ` +
        'dots or hyphens, starting and ending with a letter or digit',
    );
  }
  if (key === '') throw invalid(uri, `s3 pointer has an empty key; expected s3://${bucket}/<key>`);
  const keyBytes = Buffer.byteLength(key, 'utf8');
  if (keyBytes > MAX_S3_KEY_BYTES) {
    throw invalid(uri, `s3 key is ${keyBytes} bytes; S3 allows at most ${MAX_S3_KEY_BYTES}`);
  }
  assertNoDotSegments(uri, key, 's3 key');
  return { scheme: 's3', bucket, key };
}

function parseFile(uri: string, path: string): FilePointer {
  if (path === '') throw invalid(uri, 'file pointer has an empty path; expected file://<relative/path>');
  if (path.startsWith('/')) {
    throw invalid(uri, 'file pointer path must be relative to the store root (file://dir/name), not absolute');
  }
  if (path.includes('\\')) throw invalid(uri, 'file pointer path must use "/" separators; "\\" is not allowed');
  if (path.split('/').some((segment) => segment === '')) {
    throw invalid(uri, 'file pointer path has an empty segment ("//" or a trailing "/"); expected dir/name');
  }
  assertNoDotSegments(uri, path, 'file path');
  return { scheme: 'file', path };
}

function assertNoDotSegments(uri: string, value: string, what: string): void {
  for (const segment of value.split('/')) {
    if (segment === '..' || segment === '.') {
      throw invalid(uri, `${what} contains a "${segment}" segment; path traversal and "." segments are not allowed`);
    }
  }
}

/** Throws INVALID_POINTER when `value` contains C0 control characters (including NUL) or DEL. */
export function assertNoControlCharacters(value: string, what: string): void {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) {
      const hex = code.toString(16).toUpperCase().padStart(4, '0');
      throw invalid(
        value.slice(0, 64),
        `${what} contains control character U+${hex} at index ${i}; only printable characters are allowed`,
      );
    }
  }
}

function requireString(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value === '') {
    throw invalid(String(value), `${what} must be a non-empty string; got ${JSON.stringify(value)}`);
  }
}

function invalid(uri: string, message: string): PointerError {
  return new PointerError('INVALID_POINTER', message, { uri });
}
