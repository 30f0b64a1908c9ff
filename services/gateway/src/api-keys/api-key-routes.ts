import { z } from 'zod';
import type { AuthContext } from '../auth/auth-context.js';
import { lowerRole, roleAtLeast, roleSchema } from '../auth/roles.js';
import { scopesWithin } from '../auth/scopes.js';
import { GatewayError } from '../errors/gateway-error.js';
import { cursorPaginationSchema, cursorSchema, decodeCursor, pageOf, perPageSchema } from '../http/pagination.js';
import type { GatewayRouteModule } from '../http/route-module.js';
import { apiKeyIdSchema, apiKeyRequestFields, maskedApiKeySchema, toMaskedApiKey } from './api-key-schemas.js';
import { type ApiKeyOwner, insertApiKey } from './api-key-store.js';

/** The keys a principal owns: a user's keys, or an agent's. */
function ownerOf(auth: AuthContext): ApiKeyOwner {
  return auth.principalType === 'agent'
    ? { type: 'agent', agentId: auth.principalId }
    : { type: 'user', userId: auth.principalId };
}

/**
 * Scopes for a key `auth` creates: what it asked for, which must lie within the caller's own; a scoped caller
 * that asks for none gets its own scopes (never an unscoped, full-access key).
 */
export function scopesForNewKey(auth: AuthContext, requested: readonly string[] | undefined): string[] {
  const wanted = requested ?? [];
  if (wanted.length === 0 && auth.scopes.length > 0) return [...auth.scopes];
  if (!scopesWithin(wanted, auth.scopes)) {
    throw new GatewayError('FORBIDDEN', 'Insufficient permissions: a key cannot grant scopes its creator lacks', {
      details: [{ field: 'scopes', message: `allowed: ${auth.scopes.join(', ')}`, location: 'body' }],
    });
  }
  return [...wanted];
}

/** `GET/POST /v1/api-keys`, `GET/DELETE /v1/api-keys/:id`: the caller's own keys (admins: any key of the org). */
export const apiKeyRoutes: GatewayRouteModule = async (app) => {
  const { db } = app.gateway;

  /** A key of the caller's organization that the caller may see: its own, or any when admin. */
  async function findVisibleKey(auth: AuthContext, id: string) {
    const row = await db
      .selectFrom('api_keys')
      .selectAll()
      .where('id', '=', id)
      .where('organization_id', '=', auth.organizationId)
      .executeTakeFirst();
    if (!row) return undefined;
    const own = auth.principalType === 'agent' ? row.agent_id === auth.principalId : row.user_id === auth.principalId;
    return own || roleAtLeast(auth.role, 'admin') ? row : undefined;
  }

  app.route({
    method: 'GET',
    url: '/v1/api-keys',
    config: { access: { role: 'viewer', scope: 'api_keys:read' } },
    schema: {
      tags: ['api-keys'],
      summary: "List the caller's API keys (masked), newest first",
      querystring: z.strictObject({
        per_page: perPageSchema,
        cursor: cursorSchema.optional(),
        include_revoked: z.enum(['true', 'false']).default('false'),
      }),
      response: {
        200: z.object({
          api_keys: z.array(maskedApiKeySchema),
          total: z.number().int(),
          pagination: cursorPaginationSchema,
        }),
      },
    },
    handler: async (request) => {
      const auth = request.auth as AuthContext;
      const { per_page, cursor, include_revoked } = request.query;
      const owner = ownerOf(auth);
      let query = db.selectFrom('api_keys').where('organization_id', '=', auth.organizationId);
      query =
        owner.type === 'agent'
          ? query.where('agent_id', '=', owner.agentId)
          : query.where('user_id', '=', owner.userId);
      if (include_revoked === 'false') query = query.where('revoked_at', 'is', null);
      let pageQuery = query.selectAll();
      if (cursor) pageQuery = pageQuery.where('id', '<', decodeCursor(cursor, z.object({ id: z.string() })).id);
      const [rows, count] = await Promise.all([
        pageQuery
          .orderBy('id', 'desc')
          .limit(per_page + 1)
          .execute(),
        query.select((eb) => eb.fn.countAll<string>().as('total')).executeTakeFirstOrThrow(),
      ]);
      const { items, pagination } = pageOf(rows, per_page, (last) => ({ id: last.id }));
      return { api_keys: items.map(toMaskedApiKey), total: Number(count.total), pagination };
    },
  });

  app.route({
    method: 'POST',
    url: '/v1/api-keys',
    config: {
      access: { role: 'viewer', scope: 'api_keys:write' },
      audit: { action: 'api_key.created', resourceType: 'api_key' },
    },
    schema: {
      tags: ['api-keys'],
      summary: 'Create an API key for the caller (the key is shown only in this response)',
      body: z.strictObject({
        name: z.string().trim().min(1).max(100).describe('Human-readable name'),
        ...apiKeyRequestFields,
        role: roleSchema.optional().describe("Role the key carries; at most (and by default) the caller's"),
      }),
      response: {
        201: z.object({
          api_key: z.object({
            id: z.string(),
            key: z.string().describe('The full key. Store it now: it is never shown again'),
            name: z.string(),
            prefix: z.string(),
            scopes: z.array(z.string()),
            role: roleSchema,
            created_at: z.string(),
            expires_at: z.string().nullable(),
          }),
        }),
      },
    },
    handler: async (request, reply) => {
      const auth = request.auth as AuthContext;
      const body = request.body;
      if (body.role && !roleAtLeast(auth.role, body.role)) {
        throw new GatewayError(
          'FORBIDDEN',
          `Insufficient permissions: cannot create a ${body.role} key as ${auth.role}`,
          {
            details: [{ field: 'role', message: `at most ${auth.role}`, location: 'body' }],
          },
        );
      }
      const { row, key } = await insertApiKey(db, {
        organizationId: auth.organizationId,
        owner: ownerOf(auth),
        name: body.name,
        scopes: scopesForNewKey(auth, body.scopes),
        role: lowerRole(body.role ?? auth.role, auth.role),
        createdBy: auth.principalId,
        ...(body.expires_in_days !== undefined ? { expiresInDays: body.expires_in_days } : {}),
      });
      request.audit.resourceId = row.id;
      request.audit.details = { name: row.name, scopes: row.scopes, role: row.role };
      const masked = toMaskedApiKey(row);
      return reply.code(201).send({
        api_key: {
          id: row.id,
          key,
          name: row.name,
          prefix: row.key_prefix,
          scopes: row.scopes,
          role: masked.role,
          created_at: masked.created_at,
          expires_at: masked.expires_at,
        },
      });
    },
  });

  app.route({
    method: 'GET',
    url: '/v1/api-keys/:id',
    config: { access: { role: 'viewer', scope: 'api_keys:read' } },
    schema: {
      tags: ['api-keys'],
      summary: 'Get one API key (masked)',
      params: z.strictObject({ id: apiKeyIdSchema }),
      response: { 200: maskedApiKeySchema },
    },
    handler: async (request) => {
      const row = await findVisibleKey(request.auth as AuthContext, request.params.id);
      if (!row) throw new GatewayError('API_KEY_NOT_FOUND', `API key ${request.params.id} not found`);
      return toMaskedApiKey(row);
    },
  });

  app.route({
    method: 'DELETE',
    url: '/v1/api-keys/:id',
    config: {
      access: { role: 'viewer', scope: 'api_keys:write' },
      audit: { action: 'api_key.revoked', resourceType: 'api_key' },
    },
    schema: {
      tags: ['api-keys'],
      summary: 'Revoke an API key; it stops working immediately, on every replica',
      params: z.strictObject({ id: apiKeyIdSchema }),
      response: { 204: z.undefined().describe('Revoked') },
    },
    handler: async (request, reply) => {
      const row = await findVisibleKey(request.auth as AuthContext, request.params.id);
      if (!row) throw new GatewayError('API_KEY_NOT_FOUND', `API key ${request.params.id} not found`);
      await db
        .updateTable('api_keys')
        .set({ revoked_at: new Date() })
        .where('id', '=', row.id)
        .where('revoked_at', 'is', null)
        .execute();
      await app.gateway.credentialChanges.announce();
      return reply.code(204).send();
    },
  });
};
