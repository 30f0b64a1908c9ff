import { type Kysely, sql } from 'kysely';

/**
 * The scheduler's system of record: one row per job (CAS on `version`), an append-only event log, the DLQ, saga
 * compensations and the reconciler's leader lease.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE jobs (
      job_id            text PRIMARY KEY,
      tenant            text NOT NULL,
      topic             text NOT NULL,
      state             text NOT NULL,
      -- Optimistic concurrency: every write is "WHERE version = <read version>".
      version           integer NOT NULL DEFAULT 1,
      attempt           integer NOT NULL DEFAULT 0,
      lease_epoch       integer NOT NULL DEFAULT 0,
      max_retries       integer NOT NULL DEFAULT 3,
      priority          integer NOT NULL DEFAULT 0,
      -- The JobRequest as accepted (protobuf binary), re-used for every dispatch.
      request           bytea NOT NULL,
      trace_id          text NOT NULL DEFAULT '',
      sender_id         text NOT NULL DEFAULT '',
      idempotency_key   text,
      workflow_id       text NOT NULL DEFAULT '',
      parent_job_id     text NOT NULL DEFAULT '',
      step_index        integer NOT NULL DEFAULT 0,
      compensation_of   text NOT NULL DEFAULT '',
      worker_id         text NOT NULL DEFAULT '',
      -- Workers fenced out by a re-dispatch: their late results are stale.
      fenced_workers    text[] NOT NULL DEFAULT '{}',
      direct_dispatch   boolean NOT NULL DEFAULT false,
      result_ptr        text NOT NULL DEFAULT '',
      artifact_ptrs     text[] NOT NULL DEFAULT '{}',
      error_code        text NOT NULL DEFAULT '',
      error_message     text NOT NULL DEFAULT '',
      decision          text NOT NULL DEFAULT '',
      decision_reason   text NOT NULL DEFAULT '',
      policy_snapshot   text NOT NULL DEFAULT '',
      rule_id           text NOT NULL DEFAULT '',
      constraints       jsonb,
      approval_ref      text NOT NULL DEFAULT '',
      progress_pct      integer NOT NULL DEFAULT 0,
      progress_message  text NOT NULL DEFAULT '',
      wait_reason       text NOT NULL DEFAULT '',
      wait_since        timestamptz,
      dlq_reason        text NOT NULL DEFAULT '',
      cancel_requested  boolean NOT NULL DEFAULT false,
      -- When someone must look at the job again (retry due, timeout, re-check); NULL when nothing is due.
      next_action_at    timestamptz,
      deadline_at       timestamptz,
      created_at        timestamptz NOT NULL DEFAULT now(),
      updated_at        timestamptz NOT NULL DEFAULT now(),
      dispatched_at     timestamptz,
      started_at        timestamptz,
      finished_at       timestamptz
    )`.execute(db);
  await sql`CREATE UNIQUE INDEX jobs_tenant_idempotency_key_idx ON jobs (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL`.execute(
    db,
  );
  await sql`CREATE INDEX jobs_due_idx ON jobs (next_action_at) WHERE next_action_at IS NOT NULL`.execute(db);
  await sql`CREATE INDEX jobs_active_worker_idx ON jobs (worker_id) WHERE state IN ('DISPATCHED', 'RUNNING')`.execute(
    db,
  );
  await sql`CREATE INDEX jobs_tenant_created_idx ON jobs (tenant, created_at DESC, job_id DESC)`.execute(db);
  await sql`CREATE INDEX jobs_workflow_idx ON jobs (workflow_id) WHERE workflow_id <> ''`.execute(db);

  await sql`
    CREATE TABLE job_events (
      id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      job_id      text NOT NULL,
      tenant      text NOT NULL,
      seq         integer NOT NULL,
      from_state  text NOT NULL DEFAULT '',
      to_state    text NOT NULL,
      reason      text NOT NULL DEFAULT '',
      attempt     integer NOT NULL DEFAULT 0,
      lease_epoch integer NOT NULL DEFAULT 0,
      worker_id   text NOT NULL DEFAULT '',
      at          timestamptz NOT NULL DEFAULT now(),
      UNIQUE (job_id, seq)
    )`.execute(db);

  await sql`
    CREATE TABLE job_dlq (
      id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      job_id         text NOT NULL UNIQUE,
      tenant         text NOT NULL,
      topic          text NOT NULL,
      reason         text NOT NULL,
      final_state    text NOT NULL,
      error_code     text NOT NULL DEFAULT '',
      error_message  text NOT NULL DEFAULT '',
      attempt        integer NOT NULL DEFAULT 0,
      created_at     timestamptz NOT NULL DEFAULT now(),
      retried_job_id text,
      retried_at     timestamptz,
      retried_by     text
    )`.execute(db);
  await sql`CREATE INDEX job_dlq_tenant_created_idx ON job_dlq (tenant, created_at DESC)`.execute(db);

  await sql`
    CREATE TABLE saga_compensations (
      job_id               text PRIMARY KEY,
      workflow_id          text NOT NULL,
      tenant               text NOT NULL,
      step_index           integer NOT NULL DEFAULT 0,
      -- The JobRequest to run as the compensation (protobuf binary), built when the step succeeded.
      compensation_request bytea NOT NULL,
      recorded_at          timestamptz NOT NULL DEFAULT now(),
      compensation_job_id  text,
      started_at           timestamptz
    )`.execute(db);
  await sql`CREATE INDEX saga_compensations_workflow_idx ON saga_compensations (tenant, workflow_id, step_index DESC, recorded_at DESC)`.execute(
    db,
  );

  await sql`
    CREATE TABLE saga_rollbacks (
      tenant          text NOT NULL,
      workflow_id     text NOT NULL,
      trigger_job_id  text NOT NULL,
      started_at      timestamptz NOT NULL DEFAULT now(),
      finished_at     timestamptz,
      PRIMARY KEY (tenant, workflow_id)
    )`.execute(db);

  await sql`
    CREATE TABLE leader_leases (
      name        text PRIMARY KEY,
      holder      text NOT NULL,
      epoch       bigint NOT NULL,
      expires_at  timestamptz NOT NULL
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['leader_leases', 'saga_rollbacks', 'saga_compensations', 'job_dlq', 'job_events', 'jobs']) {
    await sql`DROP TABLE IF EXISTS ${sql.table(t)}`.execute(db);
  }
}
