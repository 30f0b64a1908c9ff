import { z } from 'zod';
import { GatewayError } from '../errors/gateway-error.js';
import type { GatewayRouteModule } from '../http/route-module.js';
import { newUserId } from '../ids.js';
import { insertOrganization, isUniqueViolation } from '../tenancy/organization-store.js';
import type { AuthContext } from './auth-context.js';
import { emailSchema, passwordSchema } from './credential-schemas.js';
import type { JwtSubject } from './jwt-service.js';
import { hashPassword, verifyAgainstDummy, verifyPassword } from './password-hash.js';
import { roleSchema } from './roles.js';

const userSchema = z.object({ id: z.string(), email: z.string(), name: z.string(), role: roleSchema });
const tokenFields = {
  token: z.string().describe('HS256 JWT; send as Authorization: Bearer <token>'),
  expires_in: z.number().int().describe('Seconds until the token expires'),
};

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** `POST /v1/auth/register`, `/login`, `/refresh`, `/token` (CACP). Credentials here are rejected with 4001. */
export const authRoutes: GatewayRouteModule = async (app) => {
  const { db, jwt, credentials, config } = app.gateway;

  app.route({
    method: 'POST',
    url: '/v1/auth/register',
    config: { access: 'public', audit: { action: 'organization.registered', resourceType: 'organization' } },
    schema: {
      tags: ['auth'],
      summary: 'Create an organization and its owner user; returns a JWT',
      body: z.strictObject({
        organization_name: z.string().trim().min(1).max(200),
        user_name: z.string().trim().min(1).max(200),
        email: emailSchema,
        password: passwordSchema,
      }),
      response: {
        201: z.object({
          organization: z.object({ id: z.string(), name: z.string(), plan_type: z.string() }),
          user: userSchema,
          ...tokenFields,
        }),
      },
    },
    handler: async (request, reply) => {
      const body = request.body;
      request.audit.details = { email: body.email };
      const passwordHash = await hashPassword(body.password);
      const created = await db
        .transaction()
        .execute(async (tx) => {
          const organization = await insertOrganization(tx, { name: body.organization_name, createdVia: 'user' });
          const user = await tx
            .insertInto('users')
            .values({
              id: newUserId(),
              organization_id: organization.id,
              email: body.email,
              name: body.user_name,
              password_hash: passwordHash,
              role: 'owner',
              disabled_at: null,
              last_login_at: null,
            })
            .returning(['id', 'email', 'name', 'role'])
            .executeTakeFirstOrThrow();
          return { organization, user };
        })
        .catch((err: unknown) => {
          if (isUniqueViolation(err)) {
            throw new GatewayError('EMAIL_TAKEN', 'Email already registered', {
              details: [{ field: 'email', message: 'already registered; log in instead', location: 'body' }],
            });
          }
          throw err;
        });
      const { organization, user } = created;
      request.audit.organizationId = organization.id;
      request.audit.resourceId = organization.id;
      request.audit.actorType = 'user';
      request.audit.actorId = user.id;
      const token = await jwt.issue({
        sub: user.id,
        organization_id: organization.id,
        role: 'owner',
        principal_type: 'user',
        auth_time: nowSeconds(),
      });
      return reply.code(201).send({
        organization,
        user: { ...user, role: roleSchema.parse(user.role) },
        token,
        expires_in: jwt.ttlSeconds,
      });
    },
  });

  app.route({
    method: 'POST',
    url: '/v1/auth/login',
    config: { access: 'public', audit: { action: 'auth.login', resourceType: 'user' } },
    schema: {
      tags: ['auth'],
      summary: 'Log in with email and password; returns a JWT',
      body: z.strictObject({ email: emailSchema, password: z.string().min(1).max(1024) }),
      response: { 200: z.object({ organization_id: z.string(), user: userSchema, ...tokenFields }) },
    },
    handler: async (request) => {
      const { email, password } = request.body;
      request.audit.details = { email };
      const user = await db
        .selectFrom('users')
        .select(['id', 'organization_id', 'email', 'name', 'role', 'password_hash', 'disabled_at'])
        .where('email', '=', email)
        .executeTakeFirst();
      const ok = user ? await verifyPassword(password, user.password_hash) : await verifyAgainstDummy(password);
      if (user) {
        request.audit.organizationId = user.organization_id;
        request.audit.actorType = 'user';
        request.audit.actorId = user.id;
        request.audit.resourceId = user.id;
      }
      if (!user || !ok) throw new GatewayError('AUTH_FAILED', 'Invalid email or password');
      if (user.disabled_at !== null) throw new GatewayError('ACCOUNT_DISABLED');
      await db.updateTable('users').set({ last_login_at: new Date() }).where('id', '=', user.id).execute();
      const role = roleSchema.parse(user.role);
      const token = await jwt.issue({
        sub: user.id,
        organization_id: user.organization_id,
        role,
        principal_type: 'user',
        auth_time: nowSeconds(),
      });
      return {
        organization_id: user.organization_id,
        user: { id: user.id, email: user.email, name: user.name, role },
        token,
        expires_in: jwt.ttlSeconds,
      };
    },
  });

  /** Maps any credential failure on the /v1/auth endpoints to the seed's 4001, keeping the specific message. */
  const asAuthFailure = (err: unknown): never => {
    if (err instanceof GatewayError && err.statusCode === 401) {
      throw new GatewayError('AUTH_FAILED', err.message, { cause: err });
    }
    throw err;
  };

  app.route({
    method: 'POST',
    url: '/v1/auth/refresh',
    config: { access: 'public', audit: { action: 'auth.token_refreshed', resourceType: 'token' } },
    schema: {
      tags: ['auth'],
      summary: 'Exchange a valid JWT (Authorization: Bearer) for a new one with a fresh expiry',
      description: `Refresh works until ${config.jwtMaxSessionSeconds} s after the password or API key was last presented; then log in again.`,
      response: { 200: z.object(tokenFields) },
    },
    handler: async (request) => {
      const credential = (() => {
        try {
          return credentials.read({ authorization: request.headers.authorization });
        } catch (err) {
          return asAuthFailure(err);
        }
      })();
      if (credential?.kind !== 'jwt') {
        throw new GatewayError('AUTH_FAILED', 'Send the JWT to refresh as Authorization: Bearer <token>');
      }
      const auth: AuthContext = await credentials.resolve(credential, {}).catch(asAuthFailure);
      // resolve() verified the token; this only reads its claims.
      const claims = await jwt.verify(credential.value);
      request.audit.organizationId = auth.organizationId;
      request.audit.actorType = auth.principalType;
      request.audit.actorId = auth.principalId;
      if (nowSeconds() - claims.auth_time > config.jwtMaxSessionSeconds) {
        throw new GatewayError('AUTH_FAILED', 'Session too old to refresh; log in (or exchange the API key) again');
      }
      const subject: JwtSubject = {
        sub: claims.sub,
        organization_id: auth.organizationId,
        role: auth.role,
        principal_type: auth.principalType,
        auth_time: claims.auth_time,
        ...(claims.agent_id !== undefined ? { agent_id: claims.agent_id } : {}),
        ...(claims.key_id !== undefined ? { key_id: claims.key_id } : {}),
      };
      return { token: await jwt.issue(subject), expires_in: jwt.ttlSeconds };
    },
  });

  app.route({
    method: 'POST',
    url: '/v1/auth/token',
    config: { access: 'public', audit: { action: 'auth.token_exchanged', resourceType: 'api_key' } },
    schema: {
      tags: ['auth'],
      summary: 'Exchange an API key for a JWT (valid while the key is)',
      body: z.strictObject({ api_key: z.string().min(1).max(4096).describe("API key starting with 'cacp_'") }),
      response: {
        200: z.object({
          ...tokenFields,
          organization_id: z.string(),
          user: userSchema.optional(),
          agent: z.object({ agent_id: z.string(), role: roleSchema }).optional(),
        }),
      },
    },
    handler: async (request) => {
      const auth = await credentials.resolveApiKey(request.body.api_key.trim()).catch(asAuthFailure);
      if (!auth || auth.apiKeyId === null) throw new GatewayError('AUTH_FAILED', 'Invalid or revoked API key');
      request.audit.organizationId = auth.organizationId;
      request.audit.actorType = auth.principalType;
      request.audit.actorId = auth.principalId;
      request.audit.resourceId = auth.apiKeyId;
      const token = await jwt.issue({
        sub: auth.principalId,
        organization_id: auth.organizationId,
        role: auth.role,
        principal_type: auth.principalType,
        key_id: auth.apiKeyId,
        auth_time: nowSeconds(),
        ...(auth.principalType === 'agent' ? { agent_id: auth.principalId } : {}),
      });
      const base = { token, expires_in: jwt.ttlSeconds, organization_id: auth.organizationId };
      if (auth.principalType === 'agent') return { ...base, agent: { agent_id: auth.principalId, role: auth.role } };
      const user = await db
        .selectFrom('users')
        .select(['id', 'email', 'name'])
        .where('id', '=', auth.principalId)
        .executeTakeFirstOrThrow();
      return { ...base, user: { ...user, role: auth.role } };
    },
  });
};
