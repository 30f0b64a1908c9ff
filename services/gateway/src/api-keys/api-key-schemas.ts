import { z } from 'zod';
import { roleSchema } from '../auth/roles.js';
import { scopeSchema } from '../auth/scopes.js';
import { type ApiKeyRow, isoOrNull, maskedKey } from './api-key-store.js';

/** Fields of a create-key request shared by `/v1/api-keys` and `/v1/agents/:id/api-keys`. */
export const apiKeyRequestFields = {
  scopes: z
    .array(scopeSchema)
    .max(32)
    .refine((scopes) => new Set(scopes).size === scopes.length, 'scopes must not repeat')
    .optional()
    .describe('Permission scopes; omitted or empty = every scope (within the role)'),
  expires_in_days: z.number().int().min(1).max(3650).optional().describe('Days until the key expires; omitted = never'),
};

/** A key as lists and GETs show it: never the key itself, only its prefix and a masked form. */
export const maskedApiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string().describe('First characters of the key, e.g. cacp_live_Ab3dE6'),
    masked_key: z.string(),
    scopes: z.array(z.string()),
    role: roleSchema,
    created_at: z.string(),
    expires_at: z.string().nullable(),
    last_used_at: z.string().nullable().describe('Updated in batches (every CAPSTAN_GATEWAY_KEY_USAGE_FLUSH_MS)'),
    revoked_at: z.string().nullable(),
  })
  .meta({ id: 'MaskedApiKey' });

/** Converts a stored row to {@link maskedApiKeySchema}. */
export function toMaskedApiKey(row: ApiKeyRow): z.infer<typeof maskedApiKeySchema> {
  return {
    id: row.id,
    name: row.name,
    prefix: row.key_prefix,
    masked_key: maskedKey(row),
    scopes: row.scopes,
    role: roleSchema.parse(row.role),
    created_at: row.created_at.toISOString(),
    expires_at: isoOrNull(row.expires_at),
    last_used_at: isoOrNull(row.last_used_at),
    revoked_at: isoOrNull(row.revoked_at),
  };
}

/** Path parameter schema of an API key id. */
export const apiKeyIdSchema = z
  .string()
  .regex(/^key_[0-9a-f]{32}$/, 'not an API key id (key_ followed by 32 hex digits)');
