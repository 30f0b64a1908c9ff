import { type Kysely, sql } from 'kysely';

/**
 * The gateway's durable state: tenants (organizations), their users and API keys, the agent registry, the
 * append-only audit log, and gateway-wide settings (the generated JWT signing secret when none is configured,
 * shared so every replica signs and verifies with the same one).
 *
 * Ids are opaque text with a type prefix (`org_`, `usr_`, `key_`, `log_`), never a serial number, so one tenant
 * cannot learn another's volume by counting. Audit ids are UUIDv7 (time-ordered), which makes `id` a stable
 * keyset-pagination order.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE organizations (
      id          text PRIMARY KEY,
      name        text NOT NULL,
      plan_type   text NOT NULL DEFAULT 'free',
      -- 'user' (POST /v1/auth/register) or 'agent' (auto-created by agent self-registration)
      created_via text NOT NULL DEFAULT 'user',
      created_at  timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  await sql`
    CREATE TABLE users (
      id               text PRIMARY KEY,
      organization_id  text NOT NULL REFERENCES organizations (id),
      -- stored lower-cased; login looks it up the same way
      email            text NOT NULL UNIQUE,
      name             text NOT NULL DEFAULT '',
      -- self-describing KDF string: scrypt$<N>$<r>$<p>$<salt b64url>$<hash b64url>
      password_hash    text NOT NULL,
      role             text NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
      disabled_at      timestamptz,
      last_login_at    timestamptz,
      created_at       timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX users_organization_idx ON users (organization_id)`.execute(db);

  await sql`
    CREATE TABLE agents (
      organization_id  text NOT NULL REFERENCES organizations (id),
      agent_id         text NOT NULL,
      agent_type       text NOT NULL DEFAULT '',
      framework        text NOT NULL DEFAULT '',
      capabilities     text[] NOT NULL DEFAULT '{}',
      version          text NOT NULL DEFAULT '',
      metadata         jsonb NOT NULL DEFAULT '{}',
      -- CAP worker id whose sys.heartbeat packets make this agent available (defaults to agent_id)
      worker_id        text NOT NULL,
      -- role carried by the agent's API keys
      role             text NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
      registered_by    text NOT NULL DEFAULT '',
      registered_at    timestamptz NOT NULL DEFAULT now(),
      updated_at       timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (organization_id, agent_id)
    )`.execute(db);
  await sql`CREATE INDEX agents_capabilities_idx ON agents USING gin (capabilities)`.execute(db);
  await sql`CREATE INDEX agents_worker_idx ON agents (worker_id)`.execute(db);

  await sql`
    CREATE TABLE api_keys (
      id               text PRIMARY KEY,
      organization_id  text NOT NULL REFERENCES organizations (id),
      -- 'user' keys act as their user (capped by the key's own role), 'agent' keys as their agent
      owner_type       text NOT NULL CHECK (owner_type IN ('user', 'agent')),
      user_id          text REFERENCES users (id),
      agent_id         text,
      name             text NOT NULL,
      -- sha256 hex of the whole key: keys carry 256 bits of entropy, so a fast hash is the right tool
      key_hash         text NOT NULL UNIQUE,
      -- the first characters of the key (e.g. cacp_live_abc123), shown in lists so people can tell keys apart
      key_prefix       text NOT NULL,
      scopes           text[] NOT NULL DEFAULT '{}',
      role             text NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
      created_by       text NOT NULL DEFAULT '',
      created_at       timestamptz NOT NULL DEFAULT now(),
      expires_at       timestamptz,
      last_used_at     timestamptz,
      revoked_at       timestamptz,
      CHECK ((owner_type = 'user') = (user_id IS NOT NULL)),
      CHECK ((owner_type = 'agent') = (agent_id IS NOT NULL))
    )`.execute(db);
  await sql`CREATE INDEX api_keys_organization_idx ON api_keys (organization_id, created_at DESC)`.execute(db);
  await sql`CREATE INDEX api_keys_agent_idx ON api_keys (organization_id, agent_id) WHERE agent_id IS NOT NULL`.execute(
    db,
  );

  await sql`
    CREATE TABLE audit_logs (
      id               text PRIMARY KEY,
      -- NULL for security events that belong to no tenant (e.g. a login attempt for an unknown email)
      organization_id  text,
      actor_type       text NOT NULL,
      actor_id         text NOT NULL DEFAULT '',
      action           text NOT NULL,
      resource_type    text NOT NULL DEFAULT '',
      resource_id      text NOT NULL DEFAULT '',
      -- 'success' or 'failure'
      outcome          text NOT NULL DEFAULT 'success',
      status_code      integer,
      ip_address       text,
      user_agent       text NOT NULL DEFAULT '',
      trace_id         text NOT NULL DEFAULT '',
      details          jsonb,
      created_at       timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX audit_logs_organization_idx ON audit_logs (organization_id, id DESC)`.execute(db);
  await sql`CREATE INDEX audit_logs_action_idx ON audit_logs (organization_id, action, id DESC)`.execute(db);
  // The audit trail is evidence: the database itself refuses to rewrite or delete it. Retention (a later issue)
  // drops this trigger inside its own cleanup transaction.
  await sql`
    CREATE FUNCTION audit_logs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_logs is append-only (% refused)', TG_OP;
    END
    $$`.execute(db);
  await sql`
    CREATE TRIGGER audit_logs_append_only BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION audit_logs_append_only()`.execute(db);

  await sql`
    CREATE TABLE gateway_settings (
      key         text PRIMARY KEY,
      value       text NOT NULL,
      created_at  timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  // The gateway's `jobs:*` WebSocket resume reads a tenant's job events after a cursor (an event id); without this
  // it filters a primary-key scan by tenant.
  await sql`CREATE INDEX job_events_tenant_id_idx ON job_events (tenant, id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX IF EXISTS job_events_tenant_id_idx`.execute(db);
  for (const t of ['gateway_settings', 'audit_logs', 'api_keys', 'agents', 'users', 'organizations']) {
    await sql`DROP TABLE IF EXISTS ${sql.table(t)}`.execute(db);
  }
  await sql`DROP FUNCTION IF EXISTS audit_logs_append_only()`.execute(db);
}
