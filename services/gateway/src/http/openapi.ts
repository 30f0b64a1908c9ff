import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { createJsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { DOCS_PREFIX } from '../auth/access-hooks.js';
import { errorResponseSchema } from '../errors/error-response.js';
import type { RouteAccess } from './route-config.js';

/** Path of the generated OpenAPI 3.1 document. */
export const OPENAPI_PATH = '/v1/openapi.json';

const zodTransform = createJsonSchemaTransform({ skipList: [] });
const AUTHENTICATED = [{ ApiKeyAuth: [] }, { BearerAuth: [] }];

function accessNote(access: RouteAccess | undefined): string {
  if (access === 'public' || access === undefined) return 'No authentication.';
  if (access === 'optional') return 'Authentication optional: with a credential the call acts for its organization.';
  return `Requires role **${access.role}** or above${access.scope ? ` and, for scoped API keys, scope \`${access.scope}\`` : ''}.`;
}

/**
 * Registers @fastify/swagger (document generated from the routes' zod schemas), the JSON document at
 * {@link OPENAPI_PATH}, and the Swagger UI page at `/docs` (assets served locally, no external requests).
 * Each operation gets its security requirement and a note on the role it needs from `config.access`, and the
 * shared error response for 4XX/5XX.
 */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Capstan gateway API',
        version,
        description:
          'REST surface of Capstan (CACP-compatible conventions). Errors are `{ "error": { "code", "message", "details", "trace_id" } }`; see docs/gateway.md for the code table.',
      },
      components: {
        securitySchemes: {
          ApiKeyAuth: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'cacp_… API key' },
          BearerAuth: { type: 'http', scheme: 'bearer', description: 'JWT, or a cacp_… API key as a bearer token' },
        },
      },
    },
    transform: (input) => {
      const route = (input as { route?: RouteOptions }).route;
      const access = (route?.config as { access?: RouteAccess } | undefined)?.access;
      const schema = input.schema as Record<string, unknown> | undefined;
      if (!schema) return zodTransform(input);
      const response = (schema.response ?? {}) as Record<string, unknown>;
      const described = {
        ...schema,
        description: [schema.description, accessNote(access)].filter(Boolean).join('\n\n'),
        security:
          access === 'public' || access === undefined
            ? []
            : access === 'optional'
              ? [{}, ...AUTHENTICATED]
              : AUTHENTICATED,
        response: { ...response, '4XX': errorResponseSchema, '5XX': errorResponseSchema },
      };
      return zodTransform({ ...input, schema: described } as typeof input);
    },
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    staticCSP: true,
    uiConfig: { validatorUrl: null, deepLinking: true },
  });
  app.get(OPENAPI_PATH, { config: { access: 'public', rateLimit: false }, schema: { hide: true } }, async () =>
    app.swagger(),
  );
}
