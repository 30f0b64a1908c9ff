import type { Role } from './roles.js';

/** Who is calling: a person (user) or an agent. */
export type PrincipalType = 'user' | 'agent';

/** The authenticated caller of a request, derived from its credential only. */
export interface AuthContext {
  /** Tenant of the request: always the credential's organization (never a header's). */
  organizationId: string;
  /** `user` or `agent`. */
  principalType: PrincipalType;
  /** User id (`usr_…`) or agent id. */
  principalId: string;
  /** Effective role: the principal's current role, capped by the API key's role. */
  role: Role;
  /** API-key scopes; empty = every scope. JWTs from a login carry none (full access within the role). */
  scopes: readonly string[];
  /** How the caller authenticated. */
  credential: 'jwt' | 'api_key';
  /** The API key used, directly or through a JWT exchanged for it (`/v1/auth/token`); null for a login JWT. */
  apiKeyId: string | null;
  /**
   * The `X-Organization-Id` header when it named a different organization than the credential. The request
   * still runs in {@link organizationId}; the mismatch is flagged in a response header and the audit log.
   */
  organizationMismatch: string | null;
}
