import type { CapstanDatabase } from '@capstan/store';
import type { Kysely, Selectable } from 'kysely';
import { generateApiKey, maskApiKey } from '../auth/api-key-format.js';
import type { Role } from '../auth/roles.js';
import { newApiKeyId } from '../ids.js';

/** A stored API key row. */
export type ApiKeyRow = Selectable<CapstanDatabase['api_keys']>;

/** Who a new key acts for. */
export type ApiKeyOwner = { type: 'user'; userId: string } | { type: 'agent'; agentId: string };

/** What to create. */
export interface NewApiKey {
  organizationId: string;
  owner: ApiKeyOwner;
  name: string;
  scopes: readonly string[];
  role: Role;
  /** Principal id of the creator (for the record). */
  createdBy: string;
  /** Days until expiry; undefined = never expires. */
  expiresInDays?: number;
}

/** A created key: the row plus the secret, which is never stored and never shown again. */
export interface CreatedApiKey {
  row: ApiKeyRow;
  /** The full `cacp_live_…` key. */
  key: string;
}

/** Inserts a new key (hashed); `db` may be a transaction. */
export async function insertApiKey(db: Kysely<CapstanDatabase>, spec: NewApiKey): Promise<CreatedApiKey> {
  const generated = generateApiKey();
  const expiresAt = spec.expiresInDays === undefined ? null : new Date(Date.now() + spec.expiresInDays * 86_400_000);
  const row = await db
    .insertInto('api_keys')
    .values({
      id: newApiKeyId(),
      organization_id: spec.organizationId,
      owner_type: spec.owner.type,
      user_id: spec.owner.type === 'user' ? spec.owner.userId : null,
      agent_id: spec.owner.type === 'agent' ? spec.owner.agentId : null,
      name: spec.name,
      key_hash: generated.hash,
      key_prefix: generated.prefix,
      scopes: [...spec.scopes],
      role: spec.role,
      created_by: spec.createdBy,
      expires_at: expiresAt,
      last_used_at: null,
      revoked_at: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { row, key: generated.key };
}

/** The masked form of a stored key. */
export function maskedKey(row: Pick<ApiKeyRow, 'key_prefix'>): string {
  return maskApiKey(row.key_prefix);
}

/** ISO string of a nullable timestamp. */
export function isoOrNull(value: Date | null): string | null {
  return value === null ? null : value.toISOString();
}
