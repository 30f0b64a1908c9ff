import { z } from 'zod';

/** Roles from most to least powerful (owner > admin > developer > viewer). */
export const ROLES = ['owner', 'admin', 'developer', 'viewer'] as const;

/** A role within an organization. */
export type Role = (typeof ROLES)[number];

/** Schema of a role name. */
export const roleSchema = z.enum(ROLES);

const RANK: Readonly<Record<Role, number>> = { owner: 4, admin: 3, developer: 2, viewer: 1 };

/** True when `role` is `minimum` or above it. */
export function roleAtLeast(role: Role, minimum: Role): boolean {
  return RANK[role] >= RANK[minimum];
}

/** The less powerful of two roles (a key never carries more than its creator). */
export function lowerRole(a: Role, b: Role): Role {
  return RANK[a] <= RANK[b] ? a : b;
}

/** Narrows a stored string to a {@link Role}; anything unknown becomes `viewer` (least privilege). */
export function asRole(value: string): Role {
  return (ROLES as readonly string[]).includes(value) ? (value as Role) : 'viewer';
}
