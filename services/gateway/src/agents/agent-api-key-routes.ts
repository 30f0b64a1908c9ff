import { z } from 'zod';
import { scopesForNewKey } from '../api-keys/api-key-routes.js';
import { apiKeyIdSchema, apiKeyRequestFields } from '../api-keys/api-key-schemas.js';
import { insertApiKey, isoOrNull, maskedKey } from '../api-keys/api-key-store.js';
import { API_KEY_PREFIX } from '../auth/api-key-format.js';
import type { AuthContext } from '../auth/auth-context.js';
import { asRole, type Role, roleAtLeast } from '../auth/roles.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { GatewayRouteModule } from '../http/route-module.js';
import { agentIdSchema } from './agent-schemas.js';

/** True when the caller is the agent itself, or has at least `minimum` in the agent's organization. */
function actsFor(auth: AuthContext, agentId: string, minimum: Role): boolean {
  return (auth.principalType === 'agent' && auth.principalId === agentId) || roleAtLeast(auth.role, minimum);
}

/**
 * `/v1/agents/:id/api-keys[/:key_id]` (CACP): an agent's own keys. The agent itself may list, mint and revoke
 * them; other members need role developer to list and admin to mint or revoke.
 */
export const agentApiKeyRoutes: GatewayRouteModule = async (app) => {
  const { db } = app.gateway;

  /** The agent of the caller's organization the caller may manage, or a 404 (also for other tenants' agents). */
  async function requireAgent(auth: AuthContext, agentId: string, minimum: Role) {
    const agent = await db
      .selectFrom('agents')
      .select(['agent_id', 'role'])
      .where('organization_id', '=', auth.organizationId)
      .where('agent_id', '=', agentId)
      .executeTakeFirst();
    if (!agent) throw new GatewayError('AGENT_NOT_FOUND', `Agent ${agentId} not found`);
    if (!actsFor(auth, agentId, minimum)) {
      throw new GatewayError(
        'FORBIDDEN',
        `Insufficient permissions: only the agent itself or a ${minimum} may do this`,
      );
    }
    return agent;
  }

  app.route({
    method: 'GET',
    url: '/v1/agents/:id/api-keys',
    config: { access: { role: 'viewer', scope: 'api_keys:read' } },
    schema: {
      tags: ['agents'],
      summary: 'List an agent’s active API keys (masked)',
      params: z.strictObject({ id: agentIdSchema }),
      response: {
        200: z.object({
          agent_id: z.string(),
          api_keys: z.array(
            z.object({
              id: z.string(),
              name: z.string(),
              key_prefix: z.string().describe('Visible part after cacp_, e.g. live_Ab3dE6'),
              masked_key: z.string(),
              scopes: z.array(z.string()),
              inserted_at: z.string(),
              expires_at: z.string().nullable(),
              last_used_at: z.string().nullable(),
            }),
          ),
          total: z.number().int(),
        }),
      },
    },
    handler: async (request) => {
      const auth = request.auth as AuthContext;
      await requireAgent(auth, request.params.id, 'developer');
      const rows = await db
        .selectFrom('api_keys')
        .selectAll()
        .where('organization_id', '=', auth.organizationId)
        .where('agent_id', '=', request.params.id)
        .where('revoked_at', 'is', null)
        .orderBy('id', 'desc')
        .limit(500)
        .execute();
      return {
        agent_id: request.params.id,
        api_keys: rows.map((row) => ({
          id: row.id,
          name: row.name,
          key_prefix: row.key_prefix.slice(API_KEY_PREFIX.indexOf('_') + 1),
          masked_key: maskedKey(row),
          scopes: row.scopes,
          inserted_at: row.created_at.toISOString(),
          expires_at: isoOrNull(row.expires_at),
          last_used_at: isoOrNull(row.last_used_at),
        })),
        total: rows.length,
      };
    },
  });

  app.route({
    method: 'POST',
    url: '/v1/agents/:id/api-keys',
    config: {
      access: { role: 'viewer', scope: 'api_keys:write' },
      audit: { action: 'api_key.created', resourceType: 'api_key' },
    },
    schema: {
      tags: ['agents'],
      summary: 'Generate a new API key for an agent (shown only in this response)',
      params: z.strictObject({ id: agentIdSchema }),
      // fastify hands a missing body to the validator as null: the body is optional.
      body: z
        .strictObject({ name: z.string().trim().min(1).max(100).default('API Key'), ...apiKeyRequestFields })
        .nullish(),
      response: {
        201: z.object({
          agent_id: z.string(),
          api_key: z.string().describe('Store it now: it is never shown again'),
          key_id: z.string(),
          name: z.string(),
          scopes: z.array(z.string()),
          created_at: z.string(),
          expires_at: z.string().nullable(),
        }),
      },
    },
    handler: async (request, reply) => {
      const auth = request.auth as AuthContext;
      const agent = await requireAgent(auth, request.params.id, 'admin');
      const body = request.body ?? { name: 'API Key' };
      const { row, key } = await insertApiKey(db, {
        organizationId: auth.organizationId,
        owner: { type: 'agent', agentId: agent.agent_id },
        name: body.name,
        scopes: scopesForNewKey(auth, body.scopes),
        role: asRole(agent.role),
        createdBy: auth.principalId,
        ...(body.expires_in_days !== undefined ? { expiresInDays: body.expires_in_days } : {}),
      });
      request.audit.resourceId = row.id;
      request.audit.details = { agent_id: agent.agent_id, name: row.name, scopes: row.scopes };
      return reply.code(201).send({
        agent_id: agent.agent_id,
        api_key: key,
        key_id: row.id,
        name: row.name,
        scopes: row.scopes,
        created_at: row.created_at.toISOString(),
        expires_at: isoOrNull(row.expires_at),
      });
    },
  });

  app.route({
    method: 'DELETE',
    url: '/v1/agents/:id/api-keys/:key_id',
    config: {
      access: { role: 'viewer', scope: 'api_keys:write' },
      audit: { action: 'api_key.revoked', resourceType: 'api_key', resourceIdParam: 'key_id' },
    },
    schema: {
      tags: ['agents'],
      summary: 'Revoke an agent’s API key; it stops working immediately',
      params: z.strictObject({ id: agentIdSchema, key_id: apiKeyIdSchema }),
      response: { 204: z.undefined().describe('Revoked') },
    },
    handler: async (request, reply) => {
      const auth = request.auth as AuthContext;
      await requireAgent(auth, request.params.id, 'admin');
      const revoked = await db
        .updateTable('api_keys')
        .set({ revoked_at: new Date() })
        .where('organization_id', '=', auth.organizationId)
        .where('agent_id', '=', request.params.id)
        .where('id', '=', request.params.key_id)
        .where('revoked_at', 'is', null)
        .returning('id')
        .executeTakeFirst();
      if (!revoked) throw new GatewayError('AGENT_API_KEY_NOT_FOUND', `API key ${request.params.key_id} not found`);
      await app.gateway.credentialChanges.announce();
      return reply.code(204).send();
    },
  });
};
