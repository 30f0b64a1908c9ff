/**
 * The gateway's error codes: the only place a numeric code is paired with an HTTP status. Numbers come from the
 * CACP seed (`shared/seeds/cacp-docs.txt`) where the seed has one; Capstan's own codes use the 1xxx range, which
 * the seed leaves empty. The seed reuses some numbers for different meanings (2001, 5004, 6001, 7001); each
 * meaning is its own entry here, so code reads by meaning while the wire keeps the seed's number.
 */

/** One error code: the number clients see, the HTTP status it travels with, and a default message. */
export interface ErrorCodeDefinition {
  /** Numeric code in the JSON error body (`error.code`). */
  readonly code: number;
  /** HTTP status of the response. */
  readonly status: number;
  /** Default `error.message` when the thrower gives none. */
  readonly message: string;
  /** `seed` when the number and meaning come from the CACP seed, `capstan` for Capstan's own codes. */
  readonly origin: 'seed' | 'capstan';
}

function seed(code: number, status: number, message: string): ErrorCodeDefinition {
  return Object.freeze({ code, status, message, origin: 'seed' as const });
}

function capstan(code: number, status: number, message: string): ErrorCodeDefinition {
  return Object.freeze({ code, status, message, origin: 'capstan' as const });
}

/** Every gateway error code, by meaning. */
export const ErrorCodes = Object.freeze({
  // Capstan's own (1xxx).
  /** An unexpected server fault; details are logged, never returned. */
  INTERNAL: capstan(1000, 500, 'Internal error'),
  /** No route has this method and path. */
  ROUTE_NOT_FOUND: capstan(1001, 404, 'Route not found'),
  /** The request body is larger than the configured limit. */
  PAYLOAD_TOO_LARGE: capstan(1002, 413, 'Request body too large'),
  /** The request body's Content-Type is not accepted by this route. */
  UNSUPPORTED_MEDIA_TYPE: capstan(1003, 415, 'Unsupported Content-Type'),
  /** A dependency (database, NATS, Redis) is unavailable. */
  SERVICE_UNAVAILABLE: capstan(1004, 503, 'Service unavailable'),
  /** A resource with this id already exists. */
  ALREADY_EXISTS: capstan(1005, 409, 'Resource already exists'),
  /** The operator turned agent self-registration off. */
  SELF_REGISTRATION_DISABLED: capstan(1006, 403, 'Agent self-registration is disabled'),
  /** A path parameter is longer than the router accepts. */
  URI_TOO_LONG: capstan(1007, 414, 'Path parameter too long'),
  /** The job has not reached a terminal state yet, so it has no result (retry later or stream its events). */
  JOB_NOT_FINISHED: capstan(1008, 409, 'Job not finished'),
  /** The job finished but its result cannot be served (expired, deleted, too large, or in a store this gateway cannot read). */
  JOB_RESULT_UNAVAILABLE: capstan(1009, 410, 'Job result unavailable'),
  /** The submit was accepted (JetStream-acked) but the scheduler has not recorded the job yet; retry shortly. */
  JOB_NOT_YET_RECORDED: capstan(1010, 409, 'Job accepted but not yet recorded'),
  /** No dead-letter entry with this id in the caller's organization. */
  DLQ_ENTRY_NOT_FOUND: capstan(1011, 404, 'Dead-letter entry not found'),
  /** An Idempotency-Key was reused with a different request body. */
  IDEMPOTENCY_KEY_REUSED: capstan(1012, 409, 'Idempotency-Key reused with a different request'),
  /** The change would leave the organization without an active owner (demoting or removing its last owner). */
  LAST_OWNER: capstan(1013, 409, 'An organization must keep at least one owner'),
  /** The member was removed from the organization (deactivated); its role can no longer be changed. */
  USER_REMOVED: capstan(1014, 409, 'Member removed from the organization'),
  /** The schedulers' submit backlog is full (JetStream refused the submit): Capstan is at capacity; see `Retry-After`. */
  SUBMIT_BACKLOG_FULL: capstan(1015, 429, 'Job backlog full (RESOURCE_EXHAUSTED); retry later'),
  /** This gateway replica has as many submits in progress as it allows; see `Retry-After`. */
  SUBMITS_IN_FLIGHT_LIMIT: capstan(1016, 503, 'Too many submits in progress on this gateway; retry later'),

  // From the CACP seed.
  /** 2001: agent not found. */
  AGENT_NOT_FOUND: seed(2001, 404, 'Agent not found'),
  /** 2001 (reused by the seed): API key not found (`/v1/api-keys/:id`). */
  API_KEY_NOT_FOUND: seed(2001, 404, 'API key not found'),
  /** 2001 (reused by the seed): organization not found (agent registration with `organization_id`). */
  ORGANIZATION_NOT_FOUND: seed(2001, 404, 'Organization not found'),
  /** 2008: no agent matched a routing request. */
  NO_MATCHING_AGENTS: seed(2008, 404, 'No matching agents'),
  /** 3001: the request (body, query, path or JSON syntax) is invalid; `details` names the fields. */
  INVALID_REQUEST: seed(3001, 400, 'Invalid request payload'),
  /** 3001 (at 409): the email is already registered (the seed files "email taken" under 3001). */
  EMAIL_TAKEN: seed(3001, 409, 'Email already registered'),
  /** 3002: required fields are missing; `details` names them. */
  MISSING_FIELDS: seed(3002, 400, 'Missing required fields'),
  /** 4001: an /v1/auth/* endpoint rejected the credential (wrong password, invalid/expired token, bad API key). */
  AUTH_FAILED: seed(4001, 401, 'Authentication failed'),
  /** 4003: the caller's role or key scopes do not allow this operation. */
  FORBIDDEN: seed(4003, 403, 'Insufficient permissions'),
  /** 4004: RPC request not found. */
  RPC_NOT_FOUND: seed(4004, 404, 'RPC request not found'),
  /** 5001: the route needs a credential and none was sent. */
  AUTHENTICATION_REQUIRED: seed(5001, 401, 'Authentication required'),
  /** 5002: the API key is unknown, revoked or expired. */
  INVALID_API_KEY: seed(5002, 401, 'Invalid API key'),
  /** 5003: the credential carries no organization. */
  MISSING_ORGANIZATION: seed(5003, 401, 'Missing organization context'),
  /** 5004: user not found. */
  USER_NOT_FOUND: seed(5004, 404, 'User not found'),
  /** 5004 (reused by the seed): an agent's API key not found (`/v1/agents/:id/api-keys/:key_id`). */
  AGENT_API_KEY_NOT_FOUND: seed(5004, 404, 'API key not found'),
  /** 5005: the user account is disabled. */
  ACCOUNT_DISABLED: seed(5005, 403, 'Account disabled'),
  /** 5006: the bearer JWT is malformed, tampered with, expired or no longer backed by a live principal. */
  INVALID_TOKEN: seed(5006, 401, 'Invalid token'),
  /** 6001: too many requests for this tenant (or client address); see `Retry-After`. */
  RATE_LIMITED: seed(6001, 429, 'Rate limit exceeded'),
  /** 6001 (reused by the seed): invalid task parameters. */
  INVALID_TASK_PARAMETERS: seed(6001, 400, 'Invalid task parameters'),
  /** 6002: task not found. */
  TASK_NOT_FOUND: seed(6002, 404, 'Task not found'),
  /** 6003: listing tasks failed. */
  TASK_LIST_FAILED: seed(6003, 500, 'Failed to list tasks'),
  /** 6004: a completed task cannot be cancelled. */
  TASK_ALREADY_COMPLETED: seed(6004, 409, 'Cannot cancel a completed task'),
  /** 6005: cancelling a task failed. */
  TASK_CANCEL_FAILED: seed(6005, 500, 'Failed to cancel task'),
  /** 6006: the task cannot be retried. */
  TASK_NOT_RETRYABLE: seed(6006, 409, 'Task cannot be retried'),
  /** 6007: retrying a task failed. */
  TASK_RETRY_FAILED: seed(6007, 500, 'Failed to retry task'),
  /** 6008: a task with this id already exists. */
  TASK_ALREADY_EXISTS: seed(6008, 409, 'Task with this task_id already exists'),
  /** 7001: the organization's credit is exhausted. */
  INSUFFICIENT_FUNDS: seed(7001, 402, 'Insufficient funds'),
  /** 7001 (reused by the seed): invalid group parameters. */
  INVALID_GROUP_PARAMETERS: seed(7001, 400, 'Invalid group parameters'),
  /** 7002: listing groups failed. */
  GROUP_LIST_FAILED: seed(7002, 500, 'Failed to list groups'),
  /** 7003: group not found. */
  GROUP_NOT_FOUND: seed(7003, 404, 'Group not found'),
  /** 7004: invalid group update. */
  INVALID_GROUP_UPDATE: seed(7004, 400, 'Invalid update parameters'),
  /** 7005: the agent to add to a group was not found. */
  GROUP_AGENT_NOT_FOUND: seed(7005, 404, 'Agent not found'),
  /** 7006: adding a group member failed. */
  GROUP_MEMBER_ADD_FAILED: seed(7006, 500, 'Failed to add member'),
  /** 7007: no group member is online. */
  GROUP_NO_ONLINE_MEMBERS: seed(7007, 409, 'No online members in group'),
  /** 7008: a group with this id already exists. */
  GROUP_ALREADY_EXISTS: seed(7008, 409, 'Group with this group_id already exists'),
  /** 9001: audit log entry not found. */
  AUDIT_LOG_NOT_FOUND: seed(9001, 404, 'Audit log not found'),
});

/** Name of an error code (the key in {@link ErrorCodes}). */
export type ErrorCodeName = keyof typeof ErrorCodes;
