import { v7 as uuidv7 } from 'uuid';

/**
 * Opaque, time-ordered ids with a type prefix: `<prefix>_<UUIDv7 as 32 hex chars>`. Time order makes the id a
 * keyset-pagination key; randomness means ids reveal nothing about other tenants; letters, digits and `_` only,
 * so an organization id is also a valid NATS subject token (the CAP tenant).
 */
function newId(prefix: string): string {
  return `${prefix}_${uuidv7().replaceAll('-', '')}`;
}

/** Pattern every id made here matches, for path-parameter schemas. */
export function idPattern(prefix: string): RegExp {
  return new RegExp(`^${prefix}_[0-9a-f]{32}$`);
}

/** A new organization id, `org_…`. */
export const newOrganizationId = (): string => newId('org');
/** A new user id, `usr_…`. */
export const newUserId = (): string => newId('usr');
/** A new API key id, `key_…`. */
export const newApiKeyId = (): string => newId('key');
/** A new audit log id, `log_…`. */
export const newAuditLogId = (): string => newId('log');
