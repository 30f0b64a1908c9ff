import type { CapstanDatabase } from '@capstan/store';
import type { Kysely } from 'kysely';
import { GatewayError } from '../errors/gateway-error.js';
import { hashApiKey, looksLikeApiKey } from './api-key-format.js';
import type { AuthContext } from './auth-context.js';
import { type JwtService, JwtVerificationError } from './jwt-service.js';
import type { KeyUsageTracker } from './key-usage-tracker.js';
import { asRole, lowerRole } from './roles.js';

/** The credential headers of a request (lower-case names, as Node gives them). */
export interface CredentialHeaders {
  authorization?: string | string[] | undefined;
  'x-api-key'?: string | string[] | undefined;
  'x-organization-id'?: string | string[] | undefined;
}

/** A credential as sent by the client. */
export type PresentedCredential = { kind: 'api_key'; value: string } | { kind: 'jwt'; value: string };

/** Resolves credentials to an {@link AuthContext}. */
export interface CredentialResolver {
  /** The credential the request carries, or null; throws for a malformed Authorization header. */
  read(headers: CredentialHeaders): PresentedCredential | null;
  /** Verifies a credential and loads its principal. @throws {GatewayError} 5002/5005/5006 */
  resolve(credential: PresentedCredential, headers: CredentialHeaders): Promise<AuthContext>;
  /** Looks up an API key by its full value: the active key's context, or null when unknown/revoked/expired. */
  resolveApiKey(key: string): Promise<AuthContext | null>;
}

/** Dependencies of {@link createCredentialResolver}. */
export interface CredentialResolverOptions {
  db: Kysely<CapstanDatabase>;
  jwt: JwtService;
  keyUsage: KeyUsageTracker;
}

const MAX_CREDENTIAL_LENGTH = 4096;

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Creates the resolver behind every authenticated route. Credentials: `X-API-Key: cacp_…`, or
 * `Authorization: Bearer <cacp_… API key | JWT>`. Every request re-reads the key or user row, so revocation,
 * expiry, disabling and role changes take effect immediately, on every replica.
 */
export function createCredentialResolver(options: CredentialResolverOptions): CredentialResolver {
  const { db, jwt, keyUsage } = options;

  async function loadKey(column: 'k.key_hash' | 'k.id', value: string) {
    return db
      .selectFrom('api_keys as k')
      .leftJoin('users as u', 'u.id', 'k.user_id')
      .select([
        'k.id',
        'k.organization_id',
        'k.owner_type',
        'k.user_id',
        'k.agent_id',
        'k.scopes',
        'k.role',
        'k.expires_at',
        'k.revoked_at',
        'u.role as user_role',
        'u.disabled_at as user_disabled_at',
      ])
      .where(column, '=', value)
      .executeTakeFirst();
  }

  type KeyRow = NonNullable<Awaited<ReturnType<typeof loadKey>>>;

  function keyIsActive(row: KeyRow): boolean {
    if (row.revoked_at !== null) return false;
    return row.expires_at === null || row.expires_at.getTime() > Date.now();
  }

  function contextFromKey(row: KeyRow, credential: AuthContext['credential']): AuthContext {
    if (row.owner_type === 'user' && row.user_disabled_at !== null) {
      throw new GatewayError('ACCOUNT_DISABLED', 'The user this API key belongs to is disabled');
    }
    const keyRole = asRole(row.role);
    const role = row.owner_type === 'user' ? lowerRole(keyRole, asRole(row.user_role ?? 'viewer')) : keyRole;
    keyUsage.touch(row.id);
    return {
      organizationId: row.organization_id,
      principalType: row.owner_type === 'agent' ? 'agent' : 'user',
      principalId: (row.owner_type === 'agent' ? row.agent_id : row.user_id) ?? '',
      role,
      scopes: row.scopes,
      credential,
      apiKeyId: row.id,
      organizationMismatch: null,
    };
  }

  async function resolveApiKey(key: string): Promise<AuthContext | null> {
    if (!looksLikeApiKey(key)) return null;
    const row = await loadKey('k.key_hash', hashApiKey(key));
    if (!row || !keyIsActive(row)) return null;
    return contextFromKey(row, 'api_key');
  }

  async function resolveJwt(token: string): Promise<AuthContext> {
    let claims: Awaited<ReturnType<JwtService['verify']>>;
    try {
      claims = await jwt.verify(token);
    } catch (err) {
      if (err instanceof JwtVerificationError) {
        throw new GatewayError(
          'INVALID_TOKEN',
          err.reason === 'expired' ? 'Token expired' : `Invalid token: ${err.message}`,
        );
      }
      throw err;
    }
    if (claims.key_id !== undefined) {
      // A token exchanged for an API key lives only as long as the key does.
      const keyRow = await loadKey('k.id', claims.key_id);
      if (!keyRow || keyRow.organization_id !== claims.organization_id || !keyIsActive(keyRow)) {
        throw new GatewayError('INVALID_TOKEN', 'Invalid token: the API key it was issued for is revoked or expired');
      }
      return contextFromKey(keyRow, 'jwt');
    }
    if (claims.principal_type !== 'user') {
      throw new GatewayError('INVALID_TOKEN', 'Invalid token: agent tokens must come from /v1/auth/token');
    }
    const user = await db
      .selectFrom('users')
      .select(['id', 'organization_id', 'role', 'disabled_at'])
      .where('id', '=', claims.sub)
      .executeTakeFirst();
    if (!user || user.organization_id !== claims.organization_id) {
      throw new GatewayError('INVALID_TOKEN', 'Invalid token: its user no longer exists');
    }
    if (user.disabled_at !== null) throw new GatewayError('ACCOUNT_DISABLED');
    return {
      organizationId: user.organization_id,
      principalType: 'user',
      principalId: user.id,
      role: asRole(user.role),
      scopes: [],
      credential: 'jwt',
      apiKeyId: null,
      organizationMismatch: null,
    };
  }

  return {
    read(headers) {
      const apiKey = single(headers['x-api-key'])?.trim();
      const authorization = single(headers.authorization)?.trim();
      let bearer: string | undefined;
      if (authorization) {
        const match = /^Bearer\s+(\S+)$/i.exec(authorization);
        if (!match) {
          throw new GatewayError(
            'AUTHENTICATION_REQUIRED',
            'Malformed Authorization header; expected "Bearer <JWT or cacp_ API key>"',
          );
        }
        bearer = match[1];
      }
      if (apiKey && bearer && apiKey !== bearer) {
        throw new GatewayError(
          'AUTHENTICATION_REQUIRED',
          'Both X-API-Key and Authorization were sent with different credentials; send one',
        );
      }
      const value = apiKey || bearer;
      if (!value) return null;
      if (value.length > MAX_CREDENTIAL_LENGTH) {
        throw new GatewayError('AUTHENTICATION_REQUIRED', `Credential longer than ${MAX_CREDENTIAL_LENGTH} characters`);
      }
      if (apiKey || value.startsWith('cacp_')) return { kind: 'api_key', value };
      return { kind: 'jwt', value };
    },

    async resolve(credential, headers) {
      let context: AuthContext;
      if (credential.kind === 'api_key') {
        const resolved = await resolveApiKey(credential.value);
        if (!resolved) throw new GatewayError('INVALID_API_KEY', 'Invalid API key: unknown, revoked or expired');
        context = resolved;
      } else {
        context = await resolveJwt(credential.value);
      }
      // The tenant always comes from the credential; a disagreeing header is kept only as a flag.
      const requestedOrg = single(headers['x-organization-id'])?.trim();
      if (requestedOrg && requestedOrg !== context.organizationId) {
        context.organizationMismatch = requestedOrg.slice(0, 128);
      }
      return context;
    },

    resolveApiKey,
  };
}
