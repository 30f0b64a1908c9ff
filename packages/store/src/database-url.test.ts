import { describe, expect, it } from 'vitest';
import { parseDatabaseUrl, redactDatabaseUrl } from './database-url.js';
import { InvalidDatabaseUrlError } from './errors.js';

describe('parseDatabaseUrl', () => {
  it('accepts postgres://, postgresql://, pglite://<dir> and pglite:memory', () => {
    expect(parseDatabaseUrl('postgres://u:p@db:5432/capstan')).toEqual({
      kind: 'postgres',
      url: 'postgres://u:p@db:5432/capstan',
    });
    expect(parseDatabaseUrl('postgresql://db/capstan').kind).toBe('postgres');
    expect(parseDatabaseUrl('postgres:///capstan?host=/var/run/postgresql').kind).toBe('postgres');
    expect(parseDatabaseUrl('pglite://.capstan/pglite')).toEqual({ kind: 'pglite', dataDir: '.capstan/pglite' });
    expect(parseDatabaseUrl('pglite:///var/lib/capstan')).toEqual({ kind: 'pglite', dataDir: '/var/lib/capstan' });
    expect(parseDatabaseUrl('pglite:memory')).toEqual({ kind: 'pglite', dataDir: undefined });
  });

  it.each([
    ['mysql://db/x', /Unsupported database URL "mysql:\/\/db\/x"; expected postgres:\/\//],
    ['', /Database URL is empty; expected postgres:\/\//],
    ['pglite://', /has no directory/],
    ['postgres:///capstan', /has no host/],
    ['postgres://u:pw@[bad/x', /is not a valid URL/],
    ['./data', /expected .*pglite:\/\/<directory> or pglite:memory/],
  ])('rejects %j', (url, message) => {
    expect(() => parseDatabaseUrl(url)).toThrow(InvalidDatabaseUrlError);
    expect(() => parseDatabaseUrl(url)).toThrow(message);
  });

  it('never puts the password in the error', () => {
    expect(() => parseDatabaseUrl('postgres://u:hunter2@[bad/x')).toThrow(/^(?!.*hunter2)/s);
  });
});

describe('redactDatabaseUrl', () => {
  it('masks the password and leaves the rest', () => {
    expect(redactDatabaseUrl('postgres://u:hunter2@db:5432/x')).toBe('postgres://u:***@db:5432/x');
    expect(redactDatabaseUrl('postgres://u@db/x')).toBe('postgres://u@db/x');
    expect(redactDatabaseUrl('postgres://u:hunter2@[bad/x')).toBe('postgres://u:***@[bad/x');
  });
});
