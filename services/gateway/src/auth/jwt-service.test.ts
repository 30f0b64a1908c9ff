import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { createJwtService, type JwtVerificationError } from './jwt-service.js';

const secret = 'unit-test-secret-unit-test-secret-0123';
const subject = {
  sub: 'usr_1',
  organization_id: 'org_1',
  role: 'admin',
  principal_type: 'user',
  auth_time: 1,
} as const;

describe('JWT service', () => {
  it('issues HS256 tokens it verifies, carrying the CACP claims', async () => {
    const jwt = createJwtService({ secret, ttlSeconds: 120 });
    const claims = await jwt.verify(await jwt.issue(subject));
    expect(claims).toMatchObject(subject);
    expect(claims.exp - claims.iat).toBe(120);
  });

  it('rejects expired, foreign, tampered and mis-shaped tokens with a reason', async () => {
    const jwt = createJwtService({ secret, clockToleranceSeconds: 0 });
    const other = createJwtService({ secret: `${secret}-other` });
    const reasonOf = (token: string) =>
      jwt.verify(token).then(
        () => 'accepted',
        (err: JwtVerificationError) => `${err.reason}: ${err.message}`,
      );
    const key = new TextEncoder().encode(secret);
    const expired = await new SignJWT({ ...subject })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('capstan-gateway')
      .setAudience('capstan')
      .setIssuedAt(1000)
      .setExpirationTime(2000)
      .sign(key);
    expect(await reasonOf(expired)).toBe('expired: token expired');
    expect(await reasonOf(await other.issue(subject))).toBe('invalid: token signature is invalid');
    const wrongAudience = await new SignJWT({ ...subject })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('capstan-gateway')
      .setAudience('someone-else')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(key);
    expect(await reasonOf(wrongAudience)).toBe('invalid: token claim "aud" is invalid');
    const noRole = await new SignJWT({ sub: 'x', organization_id: 'o', principal_type: 'user', auth_time: 1 })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('capstan-gateway')
      .setAudience('capstan')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(key);
    expect(await reasonOf(noRole)).toBe('invalid: token claims are not those of a Capstan token');
    expect(await reasonOf('a.b.c')).toBe('invalid: token is malformed');
  });

  it('refuses short secrets', () => {
    expect(() => createJwtService({ secret: 'short' })).toThrow(/at least 32 bytes/);
  });
});
