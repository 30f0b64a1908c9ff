import type { CapstanDatabase } from '@capstan/store';
import type { Selectable } from 'kysely';
import { z } from 'zod';
import { emailSchema, passwordSchema } from '../auth/credential-schemas.js';
import { roleSchema } from '../auth/roles.js';
import { idPattern } from '../ids.js';

/** Email of a new member: the rules of `POST /v1/auth/register`. */
export const memberEmailSchema = emailSchema;

/** Initial password of a new member: the rules of `POST /v1/auth/register`. */
export const memberPasswordSchema = passwordSchema;

/** Path parameter schema of a user id (`usr_` + 32 hex digits). */
export const userIdSchema = z.string().regex(idPattern('usr'), 'not a user id (usr_ followed by 32 hex digits)');

/** A member's status: `active`, or `removed` (deactivated: cannot log in, its credentials are dead). */
export const memberStatusSchema = z.enum(['active', 'removed']);

/** A member of an organization, as the `/v1/users` routes show it (never the password hash). */
export const memberSchema = z
  .object({
    id: z.string(),
    email: z.string(),
    name: z.string(),
    role: roleSchema,
    status: memberStatusSchema,
    created_at: z.string(),
    last_login_at: z.string().nullable(),
    removed_at: z.string().nullable().describe('When the member was removed; null while active'),
  })
  .meta({ id: 'Member' });

/** A stored user row. */
export type UserRow = Selectable<CapstanDatabase['users']>;

/** Columns {@link toMember} needs (selecting them never reads the password hash). */
export const MEMBER_COLUMNS = [
  'id',
  'organization_id',
  'email',
  'name',
  'role',
  'created_at',
  'last_login_at',
  'disabled_at',
] as const;

/** Converts a stored user row to {@link memberSchema}. */
export function toMember(row: Omit<UserRow, 'password_hash'>): z.infer<typeof memberSchema> {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: roleSchema.parse(row.role),
    status: row.disabled_at === null ? 'active' : 'removed',
    created_at: row.created_at.toISOString(),
    last_login_at: row.last_login_at === null ? null : row.last_login_at.toISOString(),
    removed_at: row.disabled_at === null ? null : row.disabled_at.toISOString(),
  };
}
