/**
 * @capstan/gateway-service — the gateway: REST under /v1 with OpenAPI, tenancy and auth (JWT, API keys, roles),
 * audit log, per-tenant rate limits, agent registry and discovery.
 */

export * from './agents/agent-presence.js';
export * from './app/create-gateway-app.js';
export * from './app/gateway-context.js';
export * from './app/route-modules.js';
export * from './auth/auth-context.js';
export * from './auth/roles.js';
export * from './auth/scopes.js';
export * from './errors/error-codes.js';
export * from './errors/gateway-error.js';
export * from './errors/gateway-start-error.js';
export * from './gateway-config.js';
export * from './http/route-config.js';
export * from './http/route-module.js';
export * from './start-gateway-service.js';
