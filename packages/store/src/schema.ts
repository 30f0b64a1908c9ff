import type { Generated, Insertable, Selectable } from 'kysely';

/**
 * Kysely table types for every table Capstan owns. One file so each new migration appends its table here
 * next to the others. Column types are what both backends return: `bigint` comes back as a decimal string
 * (pg's default, and PGlite is configured to match), `timestamptz` as a Date, `bytea` as a Uint8Array
 * (a Buffer from pg).
 */
export interface CapstanDatabase {
  bus_dead_letters: BusDeadLettersTable;
  jobs: JobsTable;
  job_events: JobEventsTable;
  job_dlq: JobDlqTable;
  saga_compensations: SagaCompensationsTable;
  saga_rollbacks: SagaRollbacksTable;
  leader_leases: LeaderLeasesTable;
  policy_snapshots: PolicySnapshotsTable;
  policy_activations: PolicyActivationsTable;
  policy_decisions: PolicyDecisionsTable;
  policy_approvals: PolicyApprovalsTable;
  organizations: OrganizationsTable;
  users: UsersTable;
  agents: AgentsTable;
  api_keys: ApiKeysTable;
  audit_logs: AuditLogsTable;
  gateway_settings: GatewaySettingsTable;
}

/** One row per job; the scheduler writes it with compare-and-set on `version` (migration 0002). */
export interface JobsTable {
  job_id: string;
  tenant: string;
  topic: string;
  state: string;
  version: number;
  attempt: number;
  lease_epoch: number;
  max_retries: number;
  priority: number;
  request: Uint8Array;
  trace_id: string;
  sender_id: string;
  idempotency_key: string | null;
  workflow_id: string;
  parent_job_id: string;
  step_index: number;
  compensation_of: string;
  worker_id: string;
  fenced_workers: string[];
  direct_dispatch: boolean;
  result_ptr: string;
  artifact_ptrs: string[];
  error_code: string;
  error_message: string;
  decision: string;
  decision_reason: string;
  policy_snapshot: string;
  rule_id: string;
  constraints: unknown | null;
  approval_ref: string;
  progress_pct: number;
  progress_message: string;
  wait_reason: string;
  wait_since: Date | null;
  dlq_reason: string;
  cancel_requested: boolean;
  next_action_at: Date | null;
  deadline_at: Date | null;
  created_at: Date;
  updated_at: Date;
  dispatched_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
}

/** Append-only lifecycle transitions; `seq` is the job's version after the transition. */
export interface JobEventsTable {
  id: Generated<string>;
  job_id: string;
  tenant: string;
  seq: number;
  from_state: string;
  to_state: string;
  reason: string;
  attempt: number;
  lease_epoch: number;
  worker_id: string;
  at: Date;
}

/** Jobs that ended badly, with why; `retried_job_id` links a retry from the DLQ. */
export interface JobDlqTable {
  id: Generated<string>;
  job_id: string;
  tenant: string;
  topic: string;
  reason: string;
  final_state: string;
  error_code: string;
  error_message: string;
  attempt: number;
  created_at: Generated<Date>;
  retried_job_id: string | null;
  retried_at: Date | null;
  retried_by: string | null;
}

/** Compensations recorded by succeeded saga steps. */
export interface SagaCompensationsTable {
  job_id: string;
  workflow_id: string;
  tenant: string;
  step_index: number;
  compensation_request: Uint8Array;
  recorded_at: Generated<Date>;
  compensation_job_id: string | null;
  started_at: Date | null;
}

/** Saga rollbacks in progress (one per workflow). */
export interface SagaRollbacksTable {
  tenant: string;
  workflow_id: string;
  trigger_job_id: string;
  started_at: Generated<Date>;
  finished_at: Date | null;
}

/** Named leases with a fencing epoch (the reconciler's leader election). */
export interface LeaderLeasesTable {
  name: string;
  holder: string;
  epoch: string;
  expires_at: Date;
}

/** A bus packet a consumer refused (migration 0001), mirroring `capstan.bus.v1.DeadLetter`. */
export interface BusDeadLettersTable {
  /** Identity, as a decimal string (int8 exceeds JS number precision). */
  id: Generated<string>;
  /** Subject the packet arrived on. */
  subject: string;
  /** CAP numeric error code as a string, e.g. "101" (MALFORMED_PACKET). */
  code: string;
  /** Human-readable reason. */
  reason: string;
  /** The packet's sender_id, when it could be decoded far enough to know it. */
  sender_id: string | null;
  /** The packet's trace_id, when known. */
  trace_id: string | null;
  /** Service + consumer name that rejected it. */
  consumer: string;
  /** The original bytes, untouched. */
  original: Uint8Array;
  /** When the consumer received it; defaults to the insert time. */
  received_at: Generated<Date>;
}

/** A `bus_dead_letters` row as selected. */
export type BusDeadLetterRow = Selectable<BusDeadLettersTable>;
/** A `bus_dead_letters` row to insert. */
export type NewBusDeadLetterRow = Insertable<BusDeadLettersTable>;

/** A stored policy bundle, keyed by its content-hash snapshot id (migration 0003). */
export interface PolicySnapshotsTable {
  snapshot_id: string;
  version: Generated<string>;
  bundle_yaml: string;
  file: Generated<string>;
  rule_count: Generated<number>;
  cacheable: Generated<boolean>;
  source: Generated<string>;
  created_by: Generated<string>;
  created_at: Generated<Date>;
}

/** The activation audit trail; the newest row names the active snapshot (migration 0003). */
export interface PolicyActivationsTable {
  id: Generated<string>;
  snapshot_id: string;
  previous_snapshot_id: Generated<string>;
  actor: Generated<string>;
  source: Generated<string>;
  reason: Generated<string>;
  at: Generated<Date>;
}

/** One recorded Check decision with its request, for history and Simulate replay (migration 0003). */
export interface PolicyDecisionsTable {
  id: Generated<string>;
  job_id: Generated<string>;
  tenant: Generated<string>;
  topic: Generated<string>;
  decision: string;
  rule_id: Generated<string>;
  policy_snapshot: Generated<string>;
  reason: Generated<string>;
  approval_ref: Generated<string>;
  request: Uint8Array;
  at: Generated<Date>;
}

/** A human approval bound to a request hash and a snapshot (migration 0003). */
export interface PolicyApprovalsTable {
  approval_id: string;
  job_id: string;
  tenant: Generated<string>;
  topic: Generated<string>;
  principal_id: Generated<string>;
  request_hash: string;
  policy_snapshot: string;
  rule_id: Generated<string>;
  reason: Generated<string>;
  state: Generated<string>;
  decided_by: Generated<string>;
  decision_reason: Generated<string>;
  created_at: Generated<Date>;
  decided_at: Date | null;
  expires_at: Date;
}

/** A tenant: everything else the gateway stores belongs to exactly one (migration 0004). */
export interface OrganizationsTable {
  id: string;
  name: string;
  plan_type: Generated<string>;
  created_via: Generated<string>;
  created_at: Generated<Date>;
}

/** A person who logs in with email and password; one organization and one role each (migration 0004). */
export interface UsersTable {
  id: string;
  organization_id: string;
  email: string;
  name: Generated<string>;
  password_hash: string;
  role: string;
  disabled_at: Date | null;
  last_login_at: Date | null;
  created_at: Generated<Date>;
}

/** A registered agent, keyed by (organization, agent id) (migration 0004). */
export interface AgentsTable {
  organization_id: string;
  agent_id: string;
  agent_type: Generated<string>;
  framework: Generated<string>;
  capabilities: Generated<string[]>;
  version: Generated<string>;
  metadata: Generated<unknown>;
  worker_id: string;
  role: string;
  registered_by: Generated<string>;
  registered_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** An API key, stored as its sha256 hash only (migration 0004). */
export interface ApiKeysTable {
  id: string;
  organization_id: string;
  owner_type: string;
  user_id: string | null;
  agent_id: string | null;
  name: string;
  key_hash: string;
  key_prefix: string;
  scopes: Generated<string[]>;
  role: string;
  created_by: Generated<string>;
  created_at: Generated<Date>;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

/** One append-only audit record; UPDATE and DELETE are refused by a trigger (migration 0004). */
export interface AuditLogsTable {
  id: string;
  organization_id: string | null;
  actor_type: string;
  actor_id: Generated<string>;
  action: string;
  resource_type: Generated<string>;
  resource_id: Generated<string>;
  outcome: Generated<string>;
  status_code: number | null;
  ip_address: string | null;
  user_agent: Generated<string>;
  trace_id: Generated<string>;
  details: unknown | null;
  created_at: Generated<Date>;
}

/** Gateway-wide settings shared by every replica, e.g. a generated JWT secret (migration 0004). */
export interface GatewaySettingsTable {
  key: string;
  value: string;
  created_at: Generated<Date>;
}
