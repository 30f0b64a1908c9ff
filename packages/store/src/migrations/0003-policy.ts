import { type Kysely, sql } from 'kysely';

/**
 * The safety kernel's durable state: stored bundle snapshots, the activation audit trail (the newest row is the
 * active snapshot, so every replica agrees after a restart), recorded Check decisions (the replay source for
 * Simulate) and human approvals, which the scheduler reads to release or deny parked jobs.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE policy_snapshots (
      snapshot_id  text PRIMARY KEY,
      version      text NOT NULL DEFAULT '',
      bundle_yaml  text NOT NULL,
      file         text NOT NULL DEFAULT '',
      rule_count   integer NOT NULL DEFAULT 0,
      cacheable    boolean NOT NULL DEFAULT false,
      source       text NOT NULL DEFAULT '',
      created_by   text NOT NULL DEFAULT '',
      created_at   timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  await sql`
    CREATE TABLE policy_activations (
      id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      snapshot_id           text NOT NULL REFERENCES policy_snapshots (snapshot_id),
      previous_snapshot_id  text NOT NULL DEFAULT '',
      actor                 text NOT NULL DEFAULT '',
      source                text NOT NULL DEFAULT '',
      reason                text NOT NULL DEFAULT '',
      at                    timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  await sql`
    CREATE TABLE policy_decisions (
      id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      job_id           text NOT NULL DEFAULT '',
      tenant           text NOT NULL DEFAULT '',
      topic            text NOT NULL DEFAULT '',
      decision         text NOT NULL,
      rule_id          text NOT NULL DEFAULT '',
      policy_snapshot  text NOT NULL DEFAULT '',
      reason           text NOT NULL DEFAULT '',
      approval_ref     text NOT NULL DEFAULT '',
      -- The PolicyCheckRequest as received (protobuf binary): what Simulate replays.
      request          bytea NOT NULL,
      at               timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX policy_decisions_tenant_idx ON policy_decisions (tenant, id DESC)`.execute(db);
  await sql`CREATE INDEX policy_decisions_job_idx ON policy_decisions (job_id) WHERE job_id <> ''`.execute(db);

  await sql`
    CREATE TABLE policy_approvals (
      approval_id      text PRIMARY KEY,
      job_id           text NOT NULL,
      tenant           text NOT NULL DEFAULT '',
      topic            text NOT NULL DEFAULT '',
      principal_id     text NOT NULL DEFAULT '',
      -- sha256 hex of the deterministic PolicyCheckRequest encoding: the approval covers exactly this request.
      request_hash     text NOT NULL,
      policy_snapshot  text NOT NULL,
      rule_id          text NOT NULL DEFAULT '',
      reason           text NOT NULL DEFAULT '',
      -- PENDING, APPROVED, REJECTED, EXPIRED
      state            text NOT NULL DEFAULT 'PENDING',
      decided_by       text NOT NULL DEFAULT '',
      decision_reason  text NOT NULL DEFAULT '',
      created_at       timestamptz NOT NULL DEFAULT now(),
      decided_at       timestamptz,
      expires_at       timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX policy_approvals_state_idx ON policy_approvals (state, created_at DESC)`.execute(db);
  // One open approval per job, request and snapshot: re-checks of a parked job find the same approval.
  await sql`CREATE UNIQUE INDEX policy_approvals_binding_idx ON policy_approvals (job_id, request_hash, policy_snapshot)`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['policy_approvals', 'policy_decisions', 'policy_activations', 'policy_snapshots']) {
    await sql`DROP TABLE IF EXISTS ${sql.table(t)}`.execute(db);
  }
}
