import { z } from 'zod';
import type { AuthContext } from '../auth/auth-context.js';
import { hashPassword } from '../auth/password-hash.js';
import { roleSchema } from '../auth/roles.js';
import { GatewayError } from '../errors/gateway-error.js';
import { cursorPaginationSchema, cursorSchema, decodeCursor, pageOf, perPageSchema } from '../http/pagination.js';
import type { GatewayRouteModule } from '../http/route-module.js';
import { newUserId } from '../ids.js';
import { isUniqueViolation } from '../tenancy/organization-store.js';
import { assertMembershipChange } from './member-rules.js';
import { actorRoleNow, countActiveOwners, findMember, withOrganizationLock } from './member-store.js';
import {
  MEMBER_COLUMNS,
  memberEmailSchema,
  memberPasswordSchema,
  memberSchema,
  toMember,
  userIdSchema,
} from './user-schemas.js';

const notFound = (id: string) => new GatewayError('USER_NOT_FOUND', `User ${id} not found`);

/**
 * Member management of the caller's organization: `GET/POST /v1/users`, `GET/PATCH/DELETE /v1/users/:id`.
 * Members are added with an initial password (the person logs in with `POST /v1/auth/login`); removal
 * deactivates the user (row kept for the audit trail) and revokes its API keys, and the credential resolver
 * refuses a removed user's JWTs and keys on the next request. Another organization's user id answers 404
 * exactly like an unknown one. Role rules: `member-rules.ts`.
 */
export const userRoutes: GatewayRouteModule = async (app) => {
  const { db } = app.gateway;

  app.route({
    method: 'GET',
    url: '/v1/users',
    config: { access: { role: 'viewer', scope: 'users:read' } },
    schema: {
      tags: ['users'],
      summary: "List the members of the caller's organization, oldest first",
      querystring: z.strictObject({
        status: z.enum(['active', 'removed', 'all']).default('active').describe('Which members to list'),
        role: roleSchema.optional().describe('Only members with this role'),
        per_page: perPageSchema,
        cursor: cursorSchema.optional(),
      }),
      response: {
        200: z.object({ users: z.array(memberSchema), total: z.number().int(), pagination: cursorPaginationSchema }),
      },
    },
    handler: async (request) => {
      const auth = request.auth as AuthContext;
      const { status, role, per_page, cursor } = request.query;
      let query = db.selectFrom('users').where('organization_id', '=', auth.organizationId);
      if (status === 'active') query = query.where('disabled_at', 'is', null);
      if (status === 'removed') query = query.where('disabled_at', 'is not', null);
      if (role) query = query.where('role', '=', role);
      let pageQuery = query.select(MEMBER_COLUMNS);
      if (cursor) pageQuery = pageQuery.where('id', '>', decodeCursor(cursor, z.object({ id: z.string() })).id);
      const [rows, count] = await Promise.all([
        pageQuery
          .orderBy('id', 'asc')
          .limit(per_page + 1)
          .execute(),
        query.select((eb) => eb.fn.countAll<string>().as('total')).executeTakeFirstOrThrow(),
      ]);
      const { items, pagination } = pageOf(rows, per_page, (last) => ({ id: last.id }));
      return { users: items.map(toMember), total: Number(count.total), pagination };
    },
  });

  app.route({
    method: 'POST',
    url: '/v1/users',
    config: {
      access: { role: 'admin', scope: 'users:write' },
      audit: { action: 'user.added', resourceType: 'user' },
    },
    schema: {
      tags: ['users'],
      summary: "Add a member to the caller's organization, with a role and an initial password",
      description:
        'The new member logs in with POST /v1/auth/login using this email and password. Nobody may grant a role above their own (only an owner adds owners).',
      body: z.strictObject({
        email: memberEmailSchema,
        name: z.string().trim().min(1).max(200),
        role: roleSchema.default('viewer').describe("The member's role; at most the caller's. Default viewer"),
        password: memberPasswordSchema.describe('Initial password, handed to the person out of band'),
      }),
      response: { 201: z.object({ user: memberSchema }) },
    },
    handler: async (request, reply) => {
      const auth = request.auth as AuthContext;
      const body = request.body;
      request.audit.details = { email: body.email, role: body.role };
      const passwordHash = await hashPassword(body.password);
      const row = await withOrganizationLock(db, auth.organizationId, async (tx) => {
        const actor = await actorRoleNow(tx, auth);
        assertMembershipChange({ actor, from: null, to: body.role, activeOwners: 0 });
        return tx
          .insertInto('users')
          .values({
            id: newUserId(),
            organization_id: auth.organizationId,
            email: body.email,
            name: body.name,
            password_hash: passwordHash,
            role: body.role,
            disabled_at: null,
            last_login_at: null,
          })
          .returning(MEMBER_COLUMNS)
          .executeTakeFirstOrThrow();
      }).catch((err: unknown) => {
        if (isUniqueViolation(err)) {
          // Emails are unique across organizations (login finds the account by email alone); a removed
          // member keeps its email too.
          throw new GatewayError('EMAIL_TAKEN', 'Email already registered', {
            details: [{ field: 'email', message: 'already belongs to an account', location: 'body' }],
          });
        }
        throw err;
      });
      request.audit.resourceId = row.id;
      return reply.code(201).send({ user: toMember(row) });
    },
  });

  app.route({
    method: 'GET',
    url: '/v1/users/:id',
    config: { access: { role: 'viewer', scope: 'users:read' } },
    schema: {
      tags: ['users'],
      summary: "Get one member of the caller's organization (active or removed)",
      params: z.strictObject({ id: userIdSchema }),
      response: { 200: memberSchema },
    },
    handler: async (request) => {
      const auth = request.auth as AuthContext;
      const row = await findMember(db, auth.organizationId, request.params.id);
      if (!row) throw notFound(request.params.id);
      return toMember(row);
    },
  });

  app.route({
    method: 'PATCH',
    url: '/v1/users/:id',
    config: {
      access: { role: 'admin', scope: 'users:write' },
      audit: { action: 'user.role_changed', resourceType: 'user' },
    },
    schema: {
      tags: ['users'],
      summary: "Change a member's role; takes effect on the member's next request, on every replica",
      description:
        'Nobody may grant a role above their own or change a member whose role is above their own; only an owner grants or revokes owner; the last owner cannot be demoted.',
      params: z.strictObject({ id: userIdSchema }),
      body: z.strictObject({ role: roleSchema }),
      response: { 200: memberSchema },
    },
    handler: async (request) => {
      const auth = request.auth as AuthContext;
      const { id } = request.params;
      const to = request.body.role;
      const row = await withOrganizationLock(db, auth.organizationId, async (tx) => {
        const member = await findMember(tx, auth.organizationId, id);
        if (!member) throw notFound(id);
        const from = roleSchema.parse(member.role);
        request.audit.details = { email: member.email, from, to };
        if (member.disabled_at !== null) {
          throw new GatewayError('USER_REMOVED', `User ${id} was removed from the organization; add them again`);
        }
        const actor = await actorRoleNow(tx, auth);
        const activeOwners = from === 'owner' ? await countActiveOwners(tx, auth.organizationId) : 0;
        assertMembershipChange({ actor, from, to, activeOwners });
        if (from === to) return member;
        return tx
          .updateTable('users')
          .set({ role: to })
          .where('id', '=', id)
          .returning(MEMBER_COLUMNS)
          .executeTakeFirstOrThrow();
      });
      // The member's keys and tokens now carry another role: no replica may keep the old one cached.
      await app.gateway.credentialChanges.announce();
      return toMember(row);
    },
  });

  app.route({
    method: 'DELETE',
    url: '/v1/users/:id',
    config: {
      access: { role: 'admin', scope: 'users:write' },
      audit: { action: 'user.removed', resourceType: 'user' },
    },
    schema: {
      tags: ['users'],
      summary: 'Remove (deactivate) a member: its JWTs, refreshes and API keys stop working at once',
      description:
        'The user row is kept (disabled) for the audit trail and its API keys are revoked in the same transaction. Removing an already removed member succeeds. Only an owner removes an owner; the last owner cannot be removed.',
      params: z.strictObject({ id: userIdSchema }),
      response: { 204: z.undefined().describe('Removed') },
    },
    handler: async (request, reply) => {
      const auth = request.auth as AuthContext;
      const { id } = request.params;
      await withOrganizationLock(db, auth.organizationId, async (tx) => {
        const member = await findMember(tx, auth.organizationId, id);
        if (!member) throw notFound(id);
        const from = roleSchema.parse(member.role);
        request.audit.details = { email: member.email, role: from };
        if (member.disabled_at !== null) {
          request.audit.details.already_removed = true;
          return;
        }
        const actor = await actorRoleNow(tx, auth);
        const activeOwners = from === 'owner' ? await countActiveOwners(tx, auth.organizationId) : 0;
        assertMembershipChange({ actor, from, to: null, activeOwners });
        const now = new Date();
        await tx.updateTable('users').set({ disabled_at: now }).where('id', '=', id).execute();
        const revoked = await tx
          .updateTable('api_keys')
          .set({ revoked_at: now })
          .where('organization_id', '=', auth.organizationId)
          .where('user_id', '=', id)
          .where('revoked_at', 'is', null)
          .executeTakeFirst();
        request.audit.details.revoked_api_keys = Number(revoked.numUpdatedRows);
      });
      await app.gateway.credentialChanges.announce();
      return reply.code(204).send();
    },
  });
};
