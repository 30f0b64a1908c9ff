import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { artifactPointer, contextPointer, resultPointer } from './cap-pointers.js';
import { formatPointer, type Pointer, parsePointer } from './parse-pointer.js';
import { PointerError, type PointerErrorCode } from './pointer-errors.js';
import { MAX_POINTER_URI_LENGTH } from './pointer-limits.js';

function rejection(run: () => unknown): PointerError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(PointerError);
    return error as PointerError;
  }
  throw new Error('expected a PointerError, but nothing was thrown');
}

function expectRejected(uri: string, code: PointerErrorCode, message: RegExp): void {
  const error = rejection(() => parsePointer(uri));
  expect(error.name).toBe('PointerError');
  expect(error.code).toBe(code);
  expect(error.message).toMatch(message);
}

describe('parsePointer accepts', () => {
  it('redis keys verbatim, including the colons and @ of CAP job ids', () => {
    expect(parsePointer('redis://ctx:run-1:step@2')).toEqual({ scheme: 'redis', key: 'ctx:run-1:step@2' });
    expect(parsePointer('redis://res:a b%20c')).toEqual({ scheme: 'redis', key: 'res:a b%20c' });
  });

  it('s3 bucket and nested key', () => {
    expect(parsePointer('s3://capstan-artifacts/jobs/42/out.json')).toEqual({
      scheme: 's3',
      bucket: 'capstan-artifacts',
      key: 'jobs/42/out.json',
    });
  });

  it('mem keys and relative file paths', () => {
    expect(parsePointer('mem://scratch/1')).toEqual({ scheme: 'mem', key: 'scratch/1' });
    expect(parsePointer('file://jobs/42/input.json')).toEqual({ scheme: 'file', path: 'jobs/42/input.json' });
  });

  it('segments that merely contain dots', () => {
    expect(parsePointer('file://a/..b/c..')).toEqual({ scheme: 'file', path: 'a/..b/c..' });
    expect(parsePointer('s3://bucket/a/...')).toEqual({ scheme: 's3', bucket: 'bucket', key: 'a/...' });
  });
});

describe('parsePointer rejects', () => {
  it('non-strings', () => {
    const error = rejection(() => parsePointer(42 as unknown as string));
    expect(error.code).toBe('INVALID_POINTER');
    expect(error.message).toMatch(/must be a string.*got number/);
  });

  it('the empty string', () => expectRejected('', 'INVALID_POINTER', /pointer is empty; expected <scheme>:\/\/<key>/));

  it('over-long URIs, naming the limit', () => {
    const uri = `redis://${'k'.repeat(MAX_POINTER_URI_LENGTH)}`;
    expectRejected(
      uri,
      'INVALID_POINTER',
      new RegExp(`${uri.length} characters long; at most ${MAX_POINTER_URI_LENGTH}`),
    );
    expect(parsePointer(`redis://${'k'.repeat(MAX_POINTER_URI_LENGTH - 8)}`).scheme).toBe('redis');
  });

  it.each([
    ['NUL', 'redis://ctx:\u0000x', 'U\\+0000 at index 12'],
    ['newline', 'redis://ctx:1\nSET x', 'U\\+000A at index 13'],
    ['tab', 'mem://a\tb', 'U\\+0009'],
    ['DEL', 'file://a\u007fb', 'U\\+007F'],
  ])('%s and other control characters', (_name, uri, where) => {
    expectRejected(uri, 'INVALID_POINTER', new RegExp(`control character ${where}`));
  });

  it.each(['ctx:123', 'redis:ctx:1', '//ctx', '://x', '1redis://x'])('%s: no <scheme>:// prefix', (uri) => {
    expectRejected(uri, 'INVALID_POINTER', /has no <scheme>:\/\/ prefix/);
  });

  it.each(['http://example.com/x', 'gs://bucket/key', 'rediss://ctx:1'])('unknown scheme %s', (uri) => {
    expectRejected(uri, 'SCHEME_NOT_ALLOWED', /is not supported; expected one of redis, s3, mem, file/);
  });

  it('upper-case spellings of known schemes', () => {
    expectRejected('REDIS://ctx:1', 'INVALID_POINTER', /must be lowercase \(redis:\/\/\)/);
  });

  it.each(['redis://', 'mem://'])('empty keys: %s', (uri) => {
    expectRejected(uri, 'INVALID_POINTER', /has an empty key; expected (redis|mem):\/\/<key>/);
  });

  it('s3 without bucket', () => expectRejected('s3:///key', 'INVALID_POINTER', /empty bucket; expected s3:\/\//));

  it.each([
    's3://Bucket/k',
    's3://ab/k',
    's3://-bucket/k',
    's3://a..b/k',
    's3://192.168.1.1/k',
    `s3://${'b'.repeat(64)}/k`,
  ])('invalid bucket names: %s', (uri) =>
    expectRejected(uri, 'INVALID_POINTER', /is not a valid bucket name; expected 3-63 lowercase/),
  );

  it.each(['s3://bucket', 's3://bucket/'])('s3 without key: %s', (uri) => {
    expectRejected(uri, 'INVALID_POINTER', /empty key; expected s3:\/\/bucket\/<key>/);
  });

  it.each(['s3://bucket/../etc/passwd', 's3://bucket/a/../../b', 's3://bucket/a/./b', 's3://bucket/..'])(
    'dot segments in s3 keys: %s',
    (uri) => expectRejected(uri, 'INVALID_POINTER', /s3 key contains a "\.\.?" segment; path traversal/),
  );

  it('s3 keys over 1024 UTF-8 bytes', () => {
    expectRejected(`s3://bucket/${'é'.repeat(513)}`, 'INVALID_POINTER', /s3 key is 1026 bytes; S3 allows at most 1024/);
  });

  it('an empty file path', () => expectRejected('file://', 'INVALID_POINTER', /empty path; expected file:\/\//));

  it('absolute file paths', () => {
    expectRejected('file:///etc/passwd', 'INVALID_POINTER', /relative to the store root .* not absolute/);
  });

  it.each(['file://../secret', 'file://a/../../b', 'file://a/..', 'file://./a'])('file traversal: %s', (uri) => {
    expectRejected(uri, 'INVALID_POINTER', /file path contains a "\.\.?" segment; path traversal/);
  });

  it('backslashes in file paths', () => {
    expectRejected('file://a\\..\\b', 'INVALID_POINTER', /must use "\/" separators/);
  });

  it.each(['file://a//b', 'file://a/'])('empty file path segments: %s', (uri) => {
    expectRejected(uri, 'INVALID_POINTER', /empty segment/);
  });
});

describe('formatPointer', () => {
  it('formats every scheme', () => {
    expect(formatPointer({ scheme: 'redis', key: 'ctx:1' })).toBe('redis://ctx:1');
    expect(formatPointer({ scheme: 's3', bucket: 'bucket', key: 'a/b' })).toBe('s3://bucket/a/b');
    expect(formatPointer({ scheme: 'mem', key: 'k' })).toBe('mem://k');
    expect(formatPointer({ scheme: 'file', path: 'a/b.json' })).toBe('file://a/b.json');
  });

  it('rejects what parsePointer would reject', () => {
    expect(rejection(() => formatPointer({ scheme: 'redis', key: '' })).message).toMatch(
      /redis pointer key must be a non-empty string/,
    );
    expect(rejection(() => formatPointer({ scheme: 'file', path: '../x' })).code).toBe('INVALID_POINTER');
    expect(rejection(() => formatPointer({ scheme: 's3', bucket: 'a/b', key: 'k' })).message).toMatch(
      /must not contain "\/"/,
    );
    const unknown = rejection(() => formatPointer({ scheme: 'http', key: 'x' } as unknown as Pointer));
    expect(unknown.code).toBe('SCHEME_NOT_ALLOWED');
    expect(rejection(() => formatPointer(null as unknown as Pointer)).code).toBe('INVALID_POINTER');
  });

  it('round-trips through parsePointer for any printable redis key', () => {
    const isPrintable = (s: string) => [...s].every((c) => c.charCodeAt(0) >= 0x20 && c.charCodeAt(0) !== 0x7f);
    const printable = fc.string({ minLength: 1, maxLength: 200, unit: 'binary' }).filter(isPrintable);
    fc.assert(
      fc.property(printable, (key) => {
        const uri = formatPointer({ scheme: 'redis', key });
        expect(uri).toBe(`redis://${key}`);
        expect(parsePointer(uri)).toEqual({ scheme: 'redis', key });
      }),
    );
  });
});

describe('CAP pointer helpers', () => {
  it('spell the CAP/Cordum conventions', () => {
    expect(contextPointer('job-1')).toBe('redis://ctx:job-1');
    expect(resultPointer('run:step@1')).toBe('redis://res:run:step@1');
    expect(artifactPointer('a1')).toBe('redis://art:a1');
  });

  it('reject empty ids and ids with control characters', () => {
    expect(rejection(() => contextPointer('')).message).toMatch(/job id must be a non-empty string/);
    expect(rejection(() => artifactPointer('')).message).toMatch(/artifact id must be a non-empty string/);
    expect(rejection(() => resultPointer('a\nb')).code).toBe('INVALID_POINTER');
  });
});
