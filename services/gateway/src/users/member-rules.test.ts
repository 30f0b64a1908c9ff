import { describe, expect, it } from 'vitest';
import { ROLES, type Role } from '../auth/roles.js';
import { GatewayError } from '../errors/gateway-error.js';
import { assertMembershipChange, type MembershipChange } from './member-rules.js';

function outcome(change: MembershipChange): string {
  try {
    assertMembershipChange(change);
    return 'ok';
  } catch (err) {
    if (err instanceof GatewayError) return err.codeName;
    throw err;
  }
}

const rank: Record<Role, number> = { owner: 4, admin: 3, developer: 2, viewer: 1 };

describe('membership rules', () => {
  it('never lets anyone grant a role above their own', () => {
    for (const actor of ROLES) {
      for (const to of ROLES) {
        const expected = rank[to] <= rank[actor] ? 'ok' : 'FORBIDDEN';
        expect(outcome({ actor, from: null, to, activeOwners: 1 }), `${actor} adds ${to}`).toBe(expected);
        expect(outcome({ actor, from: 'viewer', to, activeOwners: 1 }), `${actor} promotes to ${to}`).toBe(expected);
      }
    }
  });

  it('lets only an owner change or remove an owner', () => {
    expect(outcome({ actor: 'admin', from: 'owner', to: 'viewer', activeOwners: 3 })).toBe('FORBIDDEN');
    expect(outcome({ actor: 'admin', from: 'owner', to: null, activeOwners: 3 })).toBe('FORBIDDEN');
    expect(outcome({ actor: 'owner', from: 'owner', to: 'admin', activeOwners: 2 })).toBe('ok');
    expect(outcome({ actor: 'owner', from: 'owner', to: null, activeOwners: 2 })).toBe('ok');
    expect(outcome({ actor: 'admin', from: 'admin', to: 'viewer', activeOwners: 1 })).toBe('ok');
  });

  it('keeps the last owner', () => {
    expect(outcome({ actor: 'owner', from: 'owner', to: 'admin', activeOwners: 1 })).toBe('LAST_OWNER');
    expect(outcome({ actor: 'owner', from: 'owner', to: null, activeOwners: 1 })).toBe('LAST_OWNER');
    expect(outcome({ actor: 'owner', from: 'owner', to: 'owner', activeOwners: 1 })).toBe('ok');
  });

  it('names the role field when the requested role is too high', () => {
    try {
      assertMembershipChange({ actor: 'admin', from: 'developer', to: 'owner', activeOwners: 1 });
      expect.unreachable();
    } catch (err) {
      expect((err as GatewayError).details).toEqual([{ field: 'role', message: 'at most admin', location: 'body' }]);
      expect((err as GatewayError).message).toContain('cannot grant the owner role as admin');
    }
  });
});
