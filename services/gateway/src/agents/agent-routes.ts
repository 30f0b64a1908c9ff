import { z } from 'zod';
import { insertApiKey } from '../api-keys/api-key-store.js';
import type { AuthContext } from '../auth/auth-context.js';
import { type Role, roleAtLeast } from '../auth/roles.js';
import { hasScope } from '../auth/scopes.js';
import { GatewayError } from '../errors/gateway-error.js';
import { cursorPaginationSchema, cursorSchema, decodeCursor, pageOf, perPageSchema } from '../http/pagination.js';
import type { GatewayRouteModule } from '../http/route-module.js';
import { insertOrganization, isUniqueViolation } from '../tenancy/organization-store.js';
import { rankAgents } from './agent-discovery.js';
import { agentsOf, hasCapability, whereAvailability, whereStatus } from './agent-queries.js';
import {
  agentIdSchema,
  agentSchema,
  availabilitySchema,
  capabilitySchema,
  metadataSchema,
  toAgent,
} from './agent-schemas.js';

/** Most agents of one organization considered by one discovery query (the index is built per query). */
export const MAX_DISCOVERY_CANDIDATES = 5000;
/** Most agents `GET /v1/agents/query` returns. */
export const MAX_QUERY_RESULTS = 200;

/** Role given to an agent that creates its own organization by self-registration. */
const SELF_REGISTERED_ROLE: Role = 'owner';
/** Role given to an agent registered into an existing organization by one of its members. */
const JOINED_ROLE: Role = 'developer';

const registerBodySchema = z.strictObject({
  agent_id: agentIdSchema.describe('Unique (within the organization) agent identifier'),
  agent_type: z.string().max(64).optional(),
  framework: z.string().max(64).optional(),
  capabilities: z
    .array(capabilitySchema)
    .max(100)
    .refine((caps) => new Set(caps).size === caps.length, 'capabilities must not repeat')
    .optional(),
  version: z.string().max(64).optional(),
  metadata: metadataSchema.optional(),
  organization_id: z.string().max(128).optional().describe('Join this organization (needs its credential)'),
  worker_id: agentIdSchema
    .optional()
    .describe('CAP worker id whose sys.heartbeat makes this agent available (default: agent_id)'),
});

/** `/v1/agents`: registration (self-service or by a member), listing, lookup, capability query, discovery, delete. */
export const agentRoutes: GatewayRouteModule = async (app) => {
  const { db, presence, config } = app.gateway;

  app.route({
    method: 'POST',
    url: '/v1/agents',
    config: { access: 'optional', audit: { action: 'agent.registered', resourceType: 'agent' } },
    schema: {
      tags: ['agents'],
      summary: 'Register an agent; returns a long-lived API key (shown once)',
      description:
        'Without credentials (self-registration, unless disabled by CAPSTAN_GATEWAY_SELF_REGISTRATION=false) a new organization is created and the agent is its owner. With a credential of role developer or above, the agent joins the caller’s organization with role developer. Joining an organization without its credential is refused.',
      body: registerBodySchema,
      response: {
        201: z.object({
          agent_id: z.string(),
          api_key: z.string().describe('Store it now: it is never shown again'),
          api_key_id: z.string(),
          organization_id: z.string(),
          registered: z.literal(true),
          registered_at: z.string(),
        }),
      },
    },
    handler: async (request, reply) => {
      const body = request.body;
      const auth = request.auth;
      request.audit.resourceId = body.agent_id;
      const requestedOrg =
        body.organization_id ?? (auth ? undefined : (request.headers['x-organization-id'] as string));
      if (auth) {
        if (body.organization_id !== undefined && body.organization_id !== auth.organizationId) {
          throw new GatewayError(
            'ORGANIZATION_NOT_FOUND',
            `Organization ${body.organization_id.slice(0, 128)} not found`,
          );
        }
        if (!roleAtLeast(auth.role, 'developer') || !hasScope(auth.scopes, 'agents:write')) {
          throw new GatewayError(
            'FORBIDDEN',
            'Insufficient permissions: registering an agent needs role developer and scope agents:write',
          );
        }
      } else if (requestedOrg) {
        throw new GatewayError(
          'AUTHENTICATION_REQUIRED',
          'Joining an existing organization needs a credential of that organization (X-API-Key or Bearer token)',
        );
      } else if (!config.selfRegistration) {
        throw new GatewayError(
          'SELF_REGISTRATION_DISABLED',
          'Agent self-registration is disabled on this gateway; register with a credential of your organization',
        );
      }
      const created = await db
        .transaction()
        .execute(async (tx) => {
          const organizationId =
            auth?.organizationId ??
            (await insertOrganization(tx, { name: `${body.agent_id} (self-registered)`, createdVia: 'agent' })).id;
          const role = auth ? JOINED_ROLE : SELF_REGISTERED_ROLE;
          const agent = await tx
            .insertInto('agents')
            .values({
              organization_id: organizationId,
              agent_id: body.agent_id,
              agent_type: body.agent_type ?? '',
              framework: body.framework ?? '',
              capabilities: body.capabilities ?? [],
              version: body.version ?? '',
              metadata: JSON.stringify(body.metadata ?? {}),
              worker_id: body.worker_id ?? body.agent_id,
              role,
              registered_by: auth?.principalId ?? '',
            })
            .returning(['organization_id', 'agent_id', 'registered_at'])
            .executeTakeFirstOrThrow();
          const key = await insertApiKey(tx, {
            organizationId,
            owner: { type: 'agent', agentId: body.agent_id },
            name: 'Registration key',
            scopes: [],
            role,
            createdBy: auth?.principalId ?? body.agent_id,
          });
          return { agent, key };
        })
        .catch((err: unknown) => {
          if (isUniqueViolation(err)) {
            throw new GatewayError(
              'ALREADY_EXISTS',
              `Agent ${body.agent_id} is already registered in this organization`,
              {
                details: [{ field: 'agent_id', message: 'already registered', location: 'body' }],
              },
            );
          }
          throw err;
        });
      request.audit.organizationId = created.agent.organization_id;
      request.audit.actorType = auth ? auth.principalType : 'agent';
      request.audit.actorId = auth ? auth.principalId : body.agent_id;
      request.audit.details = { api_key_id: created.key.row.id, self_registered: !auth };
      return reply.code(201).send({
        agent_id: created.agent.agent_id,
        api_key: created.key.key,
        api_key_id: created.key.row.id,
        organization_id: created.agent.organization_id,
        registered: true as const,
        registered_at: created.agent.registered_at.toISOString(),
      });
    },
  });

  app.route({
    method: 'GET',
    url: '/v1/agents',
    config: { access: { role: 'viewer', scope: 'agents:read' } },
    schema: {
      tags: ['agents'],
      summary: 'List the organization’s agents, by agent_id',
      querystring: z.strictObject({
        status: z.enum(['online', 'offline']).optional(),
        availability: availabilitySchema.optional(),
        capability: capabilitySchema.optional(),
        framework: z.string().max(64).optional(),
        organization_id: z.string().max(128).optional().describe('Only the caller’s own organization matches'),
        per_page: perPageSchema,
        cursor: cursorSchema.optional(),
      }),
      response: { 200: z.object({ agents: z.array(agentSchema), pagination: cursorPaginationSchema }) },
    },
    handler: async (request) => {
      const auth = request.auth as AuthContext;
      const q = request.query;
      const empty = { agents: [], pagination: { per_page: q.per_page, next_cursor: null, has_more: false } };
      if (q.organization_id !== undefined && q.organization_id !== auth.organizationId) return empty;
      let query = agentsOf(db, auth.organizationId);
      if (q.capability) query = query.where(hasCapability(q.capability));
      if (q.framework) query = query.where('framework', '=', q.framework);
      if (q.status) query = whereStatus(query, presence, q.status);
      if (q.availability) query = whereAvailability(query, presence, q.availability);
      if (q.cursor) query = query.where('agent_id', '>', decodeCursor(q.cursor, z.object({ a: z.string() })).a);
      const rows = await query
        .selectAll()
        .orderBy('agent_id')
        .limit(q.per_page + 1)
        .execute();
      const { items, pagination } = pageOf(rows, q.per_page, (last) => ({ a: last.agent_id }));
      return { agents: items.map((row) => toAgent(row, presence)), pagination };
    },
  });

  app.route({
    method: 'GET',
    url: '/v1/agents/query',
    config: { access: { role: 'viewer', scope: 'agents:read' } },
    schema: {
      tags: ['agents'],
      summary: 'Agents with an exact capability (optionally by availability)',
      querystring: z.strictObject({
        capability: capabilitySchema,
        availability: availabilitySchema.optional(),
      }),
      response: { 200: z.object({ agents: z.array(agentSchema), total: z.number().int() }) },
    },
    handler: async (request) => {
      const auth = request.auth as AuthContext;
      let query = agentsOf(db, auth.organizationId).where(hasCapability(request.query.capability));
      if (request.query.availability) query = whereAvailability(query, presence, request.query.availability);
      const rows = await query.selectAll().orderBy('agent_id').limit(MAX_QUERY_RESULTS).execute();
      return { agents: rows.map((row) => toAgent(row, presence)), total: rows.length };
    },
  });

  app.route({
    method: 'POST',
    url: '/v1/agents/discover',
    config: { access: { role: 'viewer', scope: 'agents:read' }, audit: false },
    schema: {
      tags: ['agents'],
      summary: 'Rank agents against a natural-language request (BM25+ over capabilities and metadata)',
      body: z.strictObject({
        query: z.string().trim().min(1).max(1000).describe('What you need, in words'),
        availability: availabilitySchema.optional(),
        limit: z.number().int().min(1).max(50).default(10),
      }),
      response: {
        200: z.object({
          agents: z.array(
            z.object({
              agent_id: z.string(),
              score: z.number().describe('Relative to the best match of this query (1 = best)'),
              bm25: z.number().describe('Raw BM25+ score'),
              matched_terms: z.array(z.string()),
              capabilities: z.array(z.string()),
              agent_type: z.string(),
              framework: z.string(),
              availability: availabilitySchema,
            }),
          ),
          query: z.string(),
          total: z.number().int(),
        }),
      },
    },
    handler: async (request) => {
      const auth = request.auth as AuthContext;
      const { query: text, availability, limit } = request.body;
      let query = agentsOf(db, auth.organizationId);
      if (availability) query = whereAvailability(query, presence, availability);
      const candidates = await query.selectAll().orderBy('agent_id').limit(MAX_DISCOVERY_CANDIDATES).execute();
      const hits = rankAgents(candidates, text, limit);
      return {
        agents: hits.map((hit) => ({
          agent_id: hit.agent.agent_id,
          score: hit.score,
          bm25: hit.bm25,
          matched_terms: hit.matchedTerms,
          capabilities: hit.agent.capabilities,
          agent_type: hit.agent.agent_type,
          framework: hit.agent.framework,
          availability: presence.availability(hit.agent.worker_id),
        })),
        query: text,
        total: hits.length,
      };
    },
  });

  app.route({
    method: 'GET',
    url: '/v1/agents/:id',
    config: { access: { role: 'viewer', scope: 'agents:read' } },
    schema: {
      tags: ['agents'],
      summary: 'Get one agent',
      params: z.strictObject({ id: agentIdSchema }),
      response: { 200: agentSchema },
    },
    handler: async (request) => {
      const auth = request.auth as AuthContext;
      const row = await agentsOf(db, auth.organizationId)
        .selectAll()
        .where('agent_id', '=', request.params.id)
        .executeTakeFirst();
      if (!row) throw new GatewayError('AGENT_NOT_FOUND', `Agent ${request.params.id} not found`);
      return toAgent(row, presence);
    },
  });

  app.route({
    method: 'DELETE',
    url: '/v1/agents/:id',
    config: {
      access: { role: 'admin', scope: 'agents:write' },
      audit: { action: 'agent.deleted', resourceType: 'agent' },
    },
    schema: {
      tags: ['agents'],
      summary: 'Remove an agent and revoke its API keys',
      params: z.strictObject({ id: agentIdSchema }),
      response: { 204: z.undefined().describe('Removed') },
    },
    handler: async (request, reply) => {
      const auth = request.auth as AuthContext;
      const deleted = await db.transaction().execute(async (tx) => {
        const row = await tx
          .deleteFrom('agents')
          .where('organization_id', '=', auth.organizationId)
          .where('agent_id', '=', request.params.id)
          .returning('agent_id')
          .executeTakeFirst();
        if (!row) return false;
        await tx
          .updateTable('api_keys')
          .set({ revoked_at: new Date() })
          .where('organization_id', '=', auth.organizationId)
          .where('agent_id', '=', request.params.id)
          .where('revoked_at', 'is', null)
          .execute();
        return true;
      });
      if (!deleted) throw new GatewayError('AGENT_NOT_FOUND', `Agent ${request.params.id} not found`);
      await app.gateway.credentialChanges.announce();
      return reply.code(204).send();
    },
  });
};
