import { randomBytes } from 'node:crypto';
import type { CapstanDatabase } from '@capstan/store';
import type { Kysely } from 'kysely';

/** Key of the generated secret in `gateway_settings`. */
export const JWT_SECRET_SETTING = 'jwt_secret';

/** Where the JWT secret in use came from. */
export interface ResolvedJwtSecret {
  secret: string;
  /** `config` (CAPSTAN_GATEWAY_JWT_SECRET) or `database` (generated on first start and shared by replicas). */
  source: 'config' | 'database';
}

/**
 * Returns the configured secret, or else the one stored in `gateway_settings`, generating and storing it on the
 * first start. Insert-if-absent then read, so replicas starting together all end up with the same secret.
 */
export async function resolveJwtSecret(db: Kysely<CapstanDatabase>, configured: string): Promise<ResolvedJwtSecret> {
  if (configured !== '') return { secret: configured, source: 'config' };
  await db
    .insertInto('gateway_settings')
    .values({ key: JWT_SECRET_SETTING, value: randomBytes(48).toString('base64url') })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  const row = await db
    .selectFrom('gateway_settings')
    .select('value')
    .where('key', '=', JWT_SECRET_SETTING)
    .executeTakeFirstOrThrow();
  return { secret: row.value, source: 'database' };
}
