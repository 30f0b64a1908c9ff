import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { roleSchema } from './roles.js';

/** `iss` of every token the gateway issues. */
export const JWT_ISSUER = 'capstan-gateway';
/** `aud` of every token the gateway issues. */
export const JWT_AUDIENCE = 'capstan';

const claimsSchema = z.object({
  sub: z.string().min(1),
  organization_id: z.string().min(1),
  role: roleSchema,
  principal_type: z.enum(['user', 'agent']),
  agent_id: z.string().optional(),
  key_id: z.string().optional(),
  auth_time: z.number().int().positive(),
  exp: z.number().int(),
  iat: z.number().int(),
});

/** Claims of a gateway JWT (CACP-compatible `organization_id` and `agent_id`). */
export type JwtClaims = z.infer<typeof claimsSchema>;

/** What a new token says about its holder. */
export interface JwtSubject {
  /** User id, or agent id for agents. */
  sub: string;
  organization_id: string;
  /** Role at issue time (informational: every request re-reads the current role). */
  role: JwtClaims['role'];
  principal_type: JwtClaims['principal_type'];
  /** Set for agent tokens. */
  agent_id?: string;
  /** The API key exchanged for this token (`/v1/auth/token`); revoking the key invalidates the token. */
  key_id?: string;
  /** When the holder last presented a primary credential (password or API key), in seconds; refresh keeps it. */
  auth_time: number;
}

/** Why a token was rejected. */
export type JwtRejection = 'expired' | 'invalid';

/** Thrown by {@link JwtService.verify}. */
export class JwtVerificationError extends Error {
  override readonly name = 'JwtVerificationError';
  /** `expired` for a token past `exp`, `invalid` for anything else (bad signature, malformed, wrong claims). */
  readonly reason: JwtRejection;
  constructor(reason: JwtRejection, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/** Options for {@link createJwtService}. */
export interface JwtServiceOptions {
  /** HS256 signing secret (at least 32 bytes). */
  secret: string;
  /** Lifetime of issued tokens. @default 3600 */
  ttlSeconds?: number;
  /** Clock skew accepted on `exp`/`iat`. @default 5 */
  clockToleranceSeconds?: number;
}

/** Issues and verifies the gateway's HS256 JWTs. */
export interface JwtService {
  /** Lifetime of issued tokens, in seconds. */
  readonly ttlSeconds: number;
  /** Signs a token for `subject`, valid for `ttlSeconds`. */
  issue(subject: JwtSubject): Promise<string>;
  /** Verifies signature, issuer, audience, expiry and claim shapes. @throws {JwtVerificationError} */
  verify(token: string): Promise<JwtClaims>;
}

/** Creates the JWT service (jose, HS256). */
export function createJwtService(options: JwtServiceOptions): JwtService {
  const key = new TextEncoder().encode(options.secret);
  if (key.byteLength < 32) throw new RangeError('JWT secret must be at least 32 bytes');
  const ttlSeconds = options.ttlSeconds ?? 3600;
  const clockTolerance = options.clockToleranceSeconds ?? 5;
  return {
    ttlSeconds,
    issue(subject) {
      const { sub, ...claims } = subject;
      return new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(sub)
        .setIssuer(JWT_ISSUER)
        .setAudience(JWT_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
        .setJti(randomUUID())
        .sign(key);
    },
    async verify(token) {
      let payload: unknown;
      try {
        ({ payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          issuer: JWT_ISSUER,
          audience: JWT_AUDIENCE,
          clockTolerance,
          requiredClaims: ['exp', 'iat', 'sub'],
        }));
      } catch (cause) {
        if (cause instanceof errors.JWTExpired) throw new JwtVerificationError('expired', 'token expired', { cause });
        throw new JwtVerificationError('invalid', describeJoseError(cause), { cause });
      }
      const parsed = claimsSchema.safeParse(payload);
      if (!parsed.success) throw new JwtVerificationError('invalid', 'token claims are not those of a Capstan token');
      return parsed.data;
    },
  };
}

function describeJoseError(cause: unknown): string {
  if (cause instanceof errors.JWSSignatureVerificationFailed) return 'token signature is invalid';
  if (cause instanceof errors.JWTClaimValidationFailed) return `token claim "${cause.claim}" is invalid`;
  if (cause instanceof errors.JOSEAlgNotAllowed) return 'token algorithm is not HS256';
  return 'token is malformed';
}
