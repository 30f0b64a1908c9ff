import type { CapstanDatabase } from '@capstan/store';
import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
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
  /**
   * Forgets every cached key and user row (see `cacheTtlMs`): the next request of each credential reads the
   * database again. Called when keys or users change, on this replica or (via the bus) on another one.
   */
  invalidate(): void;
}

/** Dependencies of {@link createCredentialResolver}. */
export interface CredentialResolverOptions {
  db: Kysely<CapstanDatabase>;
  jwt: JwtService;
  keyUsage: KeyUsageTracker;
  /**
   * How long a key or user row read for one request is reused for the next requests of the same credential, in
   * ms; 0 reads the database on every request. Changes made through any gateway replica end the reuse at once
   * ({@link CredentialResolver.invalidate}, shared over the bus); the TTL bounds it for changes the bus missed
   * and for rows edited in the database by hand. Expiry is checked on every request either way. @default 0
   */
  cacheTtlMs?: number;
  /** Most cached rows (least recently used go first). @default 10000 */
  cacheMaxEntries?: number;
  /** Told how each key or user row was found: in the cache, or read from the database (metrics). */
  onLookup?: (result: 'cached' | 'read') => void;
}

const MAX_CREDENTIAL_LENGTH = 4096;

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Creates the resolver behind every authenticated route. Credentials: `X-API-Key: cacp_…`, or
 * `Authorization: Bearer <cacp_… API key | JWT>`. Without a cache every request re-reads the key or user row; with
 * `cacheTtlMs` a row is reused for that long unless a change is announced first (see {@link invalidate}), so
 * revocation, disabling and role changes made through the API take effect on every replica as soon as the bus
 * delivers the announcement (milliseconds), and otherwise within the TTL.
 */
export function createCredentialResolver(options: CredentialResolverOptions): CredentialResolver {
  const { db, jwt, keyUsage } = options;
  const ttl = options.cacheTtlMs ?? 0;
  // Only rows that exist are cached: unknown keys (typos, guessing) always go to the database and cannot fill it.
  const rows =
    ttl > 0 ? new LRUCache<string, object>({ max: options.cacheMaxEntries ?? 10_000, ttl, ttlAutopurge: false }) : null;
  // Bumped by invalidate(): a read that started before a change must not put its (maybe stale) row in the cache.
  let generation = 0;
  // Reads in progress by key: concurrent misses of one credential (say every live session re-checking it after a
  // change) share one database read.
  const reading = new Map<string, Promise<object | undefined>>();

  /** `load()` through the cache under `key`. */
  async function cached<T extends object>(key: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    if (!rows) {
      options.onLookup?.('read');
      return load();
    }
    const hit = rows.get(key) as T | undefined;
    if (hit) {
      options.onLookup?.('cached');
      return hit;
    }
    // A miss that joins a read in progress costs the database nothing: only the read that starts is counted.
    const shared = reading.get(key) as Promise<T | undefined> | undefined;
    if (shared) return shared;
    options.onLookup?.('read');
    const startedAt = generation;
    const read = load().then((row) => {
      if (row && startedAt === generation) rows.set(key, row);
      return row;
    });
    reading.set(key, read);
    try {
      return await read;
    } finally {
      if (reading.get(key) === read) reading.delete(key);
    }
  }

  function loadKey(column: 'k.key_hash' | 'k.id', value: string) {
    return cached(`${column}:${value}`, () => readKey(column, value));
  }

  async function readKey(column: 'k.key_hash' | 'k.id', value: string) {
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

  type KeyRow = NonNullable<Awaited<ReturnType<typeof readKey>>>;

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
      scopes: [...row.scopes],
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
    const user = await cached(`user:${claims.sub}`, () =>
      db
        .selectFrom('users')
        .select(['id', 'organization_id', 'role', 'disabled_at'])
        .where('id', '=', claims.sub)
        .executeTakeFirst(),
    );
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

    invalidate() {
      generation++;
      rows?.clear();
      // A read that started before the change must not answer those that come after it.
      reading.clear();
    },
  };
}
