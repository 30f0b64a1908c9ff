import { describe, expect, it } from 'vitest';
import { hashPassword, PasswordHashFormatError, verifyAgainstDummy, verifyPassword } from './password-hash.js';

describe('scrypt password hashing', () => {
  it('verifies the right password only, with a fresh salt per hash', async () => {
    const a = await hashPassword('correct horse battery');
    const b = await hashPassword('correct horse battery');
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('correct horse battery', a)).toBe(true);
    expect(await verifyPassword('correct horse batterY', a)).toBe(false);
    expect(await verifyAgainstDummy('anything')).toBe(false);
  });

  it('normalizes Unicode so visually identical passwords match', async () => {
    const composed = await hashPassword('caf\u00e9-password');
    expect(await verifyPassword('cafe\u0301-password', composed)).toBe(true);
  });

  it('rejects stored hashes in an unknown format', async () => {
    await expect(verifyPassword('x', 'md5$abc')).rejects.toBeInstanceOf(PasswordHashFormatError);
  });
});
