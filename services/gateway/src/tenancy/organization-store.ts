import type { CapstanDatabase } from '@capstan/store';
import type { Kysely } from 'kysely';
import { newOrganizationId } from '../ids.js';

/** Inserts an organization; `db` may be a transaction. Returns its id. */
export async function insertOrganization(
  db: Kysely<CapstanDatabase>,
  spec: { name: string; createdVia: 'user' | 'agent' },
): Promise<{ id: string; name: string; plan_type: string }> {
  return db
    .insertInto('organizations')
    .values({ id: newOrganizationId(), name: spec.name, created_via: spec.createdVia })
    .returning(['id', 'name', 'plan_type'])
    .executeTakeFirstOrThrow();
}

/** PostgreSQL's unique_violation, as raised by both pg and PGlite. */
export function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '23505';
}
