import type { AuthContext } from '../auth/auth-context.js';
import type { Role } from '../auth/roles.js';
import type { Scope } from '../auth/scopes.js';

/**
 * Who may call a route. Every route declares one (registration fails otherwise):
 * - `'public'`: no credential is read (health, login, register, OpenAPI);
 * - `'optional'`: a credential is used when sent (and must then be valid), anonymous otherwise;
 * - `{ role, scope }`: a valid credential is required, with at least `role` and, for scoped API keys, `scope`.
 */
export type RouteAccess = 'public' | 'optional' | { role: Role; scope?: Scope };

/**
 * What a mutating route appends to the audit log. Required on every POST/PUT/PATCH/DELETE route (registration
 * fails otherwise), so no mutating call can go unaudited.
 */
export interface RouteAudit {
  /** Dotted action name, e.g. `agent.deleted`, `api_key.created`. */
  action: string;
  /** Type of the resource acted on, e.g. `agent`. */
  resourceType: string;
  /** Path parameter holding the resource id; handlers may override with `request.audit.resourceId`. @default 'id' */
  resourceIdParam?: string;
}

/** Facts a handler adds to the request's audit entry (merged with the auth context by the audit hook). */
export interface RequestAuditFacts {
  /** Resource acted on (e.g. the new key's id). */
  resourceId?: string;
  /** Tenant, for public routes where there is no auth context yet (register, login). */
  organizationId?: string | null;
  /** Actor, for public routes (the user who logged in). */
  actorType?: string;
  /** Actor id, for public routes. */
  actorId?: string;
  /** Extra JSON facts (never secrets). */
  details?: Record<string, unknown>;
  /** Numeric error code of a failed call (set by the error handler). */
  errorCode?: number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route; see {@link RouteAccess}. */
    access?: RouteAccess;
    /**
     * Audit entry of a mutating route; see {@link RouteAudit}. `false` declares a POST that changes nothing
     * (e.g. a search with a JSON body) and so is not audited.
     */
    audit?: RouteAudit | false;
  }
  interface FastifyRequest {
    /** The authenticated caller, or null on public routes and anonymous calls to optional ones. */
    auth: AuthContext | null;
    /** Facts handlers add to this request's audit entry. */
    audit: RequestAuditFacts;
  }
}
