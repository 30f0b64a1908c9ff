import { describe, expect, it } from 'vitest';
import { resolveDatabaseUrl } from './database-location.js';
import { describeConfig } from './describe-config.js';
import { parseBooleanEnv, parseIntegerEnv, parseListEnv } from './env-parsers.js';
import { bucketNameSchema, databaseUrlSchema, natsUrlSchema, portSchema } from './schemas.js';
import { sharedConfigSpec } from './shared-spec.js';

describe('schemas', () => {
  it('accepts every database URL form Capstan opens and rejects others', () => {
    for (const ok of ['', 'pglite:memory', 'pglite://.capstan/pglite', 'postgres://u:p@h:5432/d', 'postgresql://h/d']) {
      expect(databaseUrlSchema.safeParse(ok).success, ok).toBe(true);
    }
    for (const bad of ['pglite://', 'mysql://h/d', 'localhost:5432']) {
      expect(databaseUrlSchema.safeParse(bad).success, bad).toBe(false);
    }
  });

  it('accepts comma-separated NATS server lists', () => {
    expect(natsUrlSchema.safeParse('nats://a:4222, nats://b:4222,tls://c:4443').success).toBe(true);
    expect(natsUrlSchema.safeParse('nats://a:4222,redis://b').success).toBe(false);
  });

  it('bounds ports and bucket names', () => {
    expect(portSchema.safeParse(0).success).toBe(true);
    expect(portSchema.safeParse(65_536).success).toBe(false);
    expect(portSchema.safeParse(1.5).success).toBe(false);
    expect(bucketNameSchema.safeParse('capstan-payloads').success).toBe(true);
    expect(bucketNameSchema.safeParse('ab').success).toBe(false);
  });
});

describe('env parsers', () => {
  it('convert what they understand and pass anything else through for the schema to reject', () => {
    expect(parseIntegerEnv(' 42 ')).toBe(42);
    expect(parseIntegerEnv('4x')).toBe('4x');
    expect(parseBooleanEnv('ON')).toBe(true);
    expect(parseBooleanEnv('0')).toBe(false);
    expect(parseBooleanEnv('maybe')).toBe('maybe');
    expect(parseListEnv('a, ,b,')).toEqual(['a', 'b']);
  });
});

describe('resolveDatabaseUrl', () => {
  it('keeps a configured URL and otherwise points at the embedded PGlite directory', () => {
    expect(resolveDatabaseUrl('postgres://h/d', '/srv')).toBe('postgres://h/d');
    expect(resolveDatabaseUrl('', '/srv/app')).toBe('pglite:///srv/app/.capstan/pglite');
  });
});

describe('describeConfig', () => {
  it('flattens nested groups and keeps every env name unique across the shared fields', () => {
    const rows = describeConfig(sharedConfigSpec);
    expect(rows.map((row) => row.path)).toContain('s3.buckets');
    expect(rows.find((row) => row.path === 'natsUrl')).toMatchObject({
      env: ['CAPSTAN_NATS_URL', 'NATS_URL'],
      key: 'nats.url',
      default: 'nats://127.0.0.1:4222',
    });
    const names = rows.flatMap((row) => row.env);
    expect(new Set(names).size).toBe(names.length);
    const keys = rows.map((row) => row.key);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
