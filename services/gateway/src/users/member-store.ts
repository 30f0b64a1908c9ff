import type { CapstanDatabase } from '@capstan/store';
import type { Kysely, Transaction } from 'kysely';
import type { AuthContext } from '../auth/auth-context.js';
import { asRole, lowerRole, type Role } from '../auth/roles.js';
import { GatewayError } from '../errors/gateway-error.js';
import { MEMBER_COLUMNS } from './user-schemas.js';

/**
 * Runs `fn` in a transaction holding the organization's row lock, so membership changes of one organization are
 * serialized: two owners demoting each other at once cannot both pass the last-owner check.
 */
export async function withOrganizationLock<T>(
  db: Kysely<CapstanDatabase>,
  organizationId: string,
  fn: (tx: Transaction<CapstanDatabase>) => Promise<T>,
): Promise<T> {
  return db.transaction().execute(async (tx) => {
    await tx.selectFrom('organizations').select('id').where('id', '=', organizationId).forUpdate().execute();
    return fn(tx);
  });
}

/** A member of `organizationId`, or undefined (also for another organization's user: callers answer 404). */
export async function findMember(db: Kysely<CapstanDatabase>, organizationId: string, userId: string) {
  return db
    .selectFrom('users')
    .select(MEMBER_COLUMNS)
    .where('id', '=', userId)
    .where('organization_id', '=', organizationId)
    .executeTakeFirst();
}

/** Active owners of the organization (call under {@link withOrganizationLock}). */
export async function countActiveOwners(db: Kysely<CapstanDatabase>, organizationId: string): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<string>().as('owners'))
    .where('organization_id', '=', organizationId)
    .where('role', '=', 'owner')
    .where('disabled_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.owners);
}

/**
 * The caller's role as of now, under the organization's lock: the request was authenticated before the lock was
 * taken, and a concurrent change may have demoted or removed the acting user since. Agents keep their key's role.
 * @throws {GatewayError} ACCOUNT_DISABLED when the acting user was removed meanwhile.
 */
export async function actorRoleNow(db: Kysely<CapstanDatabase>, auth: AuthContext): Promise<Role> {
  if (auth.principalType !== 'user') return auth.role;
  const row = await db
    .selectFrom('users')
    .select(['role', 'disabled_at'])
    .where('id', '=', auth.principalId)
    .where('organization_id', '=', auth.organizationId)
    .executeTakeFirst();
  if (!row || row.disabled_at !== null) throw new GatewayError('ACCOUNT_DISABLED');
  return lowerRole(auth.role, asRole(row.role));
}
