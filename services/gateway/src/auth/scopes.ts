import { z } from 'zod';
import { whenPresent } from '../http/schema-messages.js';

/**
 * Every API-key scope, defined once. A key with no scopes has full access (within its role), as in the CACP
 * seed; a key with scopes may only call routes whose required scope it lists. Add new scopes here when adding
 * routes (e.g. `jobs:read`), never spell them inline.
 */
export const SCOPES = [
  'agents:read',
  'agents:write',
  'api_keys:read',
  'api_keys:write',
  'audit:read',
  'jobs:read',
  'jobs:write',
  'dlq:read',
  'dlq:write',
  'workers:read',
  'messages:send',
  'messages:read',
  'users:read',
  'users:write',
] as const;

/** One API-key scope. */
export type Scope = (typeof SCOPES)[number];

/** Schema of a scope name, with an error that lists the valid ones. */
export const scopeSchema = z.enum(SCOPES, {
  error: whenPresent(`unknown scope; expected one of ${SCOPES.join(', ')}`),
});

/** True when a credential with `granted` scopes (empty = all) may use `required`. */
export function hasScope(granted: readonly string[], required: Scope): boolean {
  return granted.length === 0 || granted.includes(required);
}

/**
 * True when `requested` asks for nothing beyond `granted`: a scoped key can only mint keys with a subset of its
 * scopes (and never an unscoped, full-access one).
 */
export function scopesWithin(requested: readonly string[], granted: readonly string[]): boolean {
  if (granted.length === 0) return true;
  if (requested.length === 0) return false;
  return requested.every((scope) => granted.includes(scope));
}
