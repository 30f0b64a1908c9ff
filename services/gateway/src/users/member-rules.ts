import { type Role, roleAtLeast } from '../auth/roles.js';
import { GatewayError } from '../errors/gateway-error.js';

/** A change to one member's role: a new member (`from: null`), a role change, or a removal (`to: null`). */
export interface MembershipChange {
  /** The acting credential's effective role (already checked to be admin or above by the route). */
  actor: Role;
  /** The member's current role; null when the member is being added. */
  from: Role | null;
  /** The role the member gets; null when the member is being removed. */
  to: Role | null;
  /** Active owners of the organization right now (read under the organization's lock). */
  activeOwners: number;
}

/**
 * The organization's membership rules, in one place (owner > admin > developer > viewer):
 * 1. nobody grants a role above their own (so only an owner makes owners);
 * 2. nobody changes or removes a member whose role is above their own (so only an owner touches an owner);
 * 3. the last active owner can be neither demoted nor removed.
 * @throws {GatewayError} FORBIDDEN (4003) for 1 and 2, naming `role` when the requested role is the problem;
 *   LAST_OWNER (1013) for 3.
 */
export function assertMembershipChange(change: MembershipChange): void {
  const { actor, from, to, activeOwners } = change;
  if (from !== null && !roleAtLeast(actor, from)) {
    throw new GatewayError(
      'FORBIDDEN',
      `Insufficient permissions: only ${from === 'owner' ? 'an owner' : `a ${from} or above`} may change or remove a ${from} (you are ${actor})`,
    );
  }
  if (to !== null && !roleAtLeast(actor, to)) {
    throw new GatewayError(
      'FORBIDDEN',
      `Insufficient permissions: cannot grant the ${to} role as ${actor}; you can grant at most ${actor}`,
      { details: [{ field: 'role', message: `at most ${actor}`, location: 'body' }] },
    );
  }
  if (from === 'owner' && to !== 'owner' && activeOwners <= 1) {
    throw new GatewayError(
      'LAST_OWNER',
      to === null
        ? 'Cannot remove the last owner of the organization; make another member owner first'
        : 'Cannot demote the last owner of the organization; make another member owner first',
    );
  }
}
