import { type CapstanDatabase, createGroupCommit } from '@capstan/store';
import type { Insertable, Kysely, SelectQueryBuilder } from 'kysely';
import type { Logger } from 'pino';
import { newAuditLogId } from '../ids.js';

/** Who performed an audited action. */
export type AuditActorType = 'user' | 'agent' | 'anonymous' | 'system';

/** One entry to append. */
export interface AuditEntry {
  /** Tenant; null for security events that belong to no tenant (e.g. an unknown API key). */
  organizationId: string | null;
  actorType: AuditActorType;
  actorId: string;
  /** Dotted action, e.g. `agent.registered`, `auth.login`, `auth.credential_rejected`. */
  action: string;
  resourceType: string;
  resourceId: string;
  outcome: 'success' | 'failure';
  /** HTTP status of the audited call, when it was one. */
  statusCode: number | null;
  ipAddress: string | null;
  userAgent: string;
  traceId: string;
  /** Extra facts (never secrets). */
  details: Record<string, unknown> | null;
}

/** A stored audit record as the API returns it. */
export interface AuditRecord {
  id: string;
  organization_id: string | null;
  actor_type: string;
  actor_id: string;
  action: string;
  resource_type: string;
  resource_id: string;
  outcome: string;
  status_code: number | null;
  ip_address: string | null;
  user_agent: string;
  trace_id: string;
  details: unknown;
  created_at: Date;
}

/** Filters of {@link AuditLog.list}; every one optional. */
export interface AuditFilter {
  actorType?: string;
  actorId?: string;
  action?: string;
  resourceType?: string;
  resourceId?: string;
  outcome?: string;
  from?: Date;
  to?: Date;
}

/** The append-only audit trail of one gateway. */
export interface AuditLog {
  /**
   * Appends an entry; resolves with its id once committed. Never throws: an entry the database refuses is written
   * to the error log in full (`audit_entry`) and resolves null.
   */
  record(entry: AuditEntry): Promise<string | null>;
  /** Newest first, keyset-paginated on `id` (UUIDv7, time-ordered): entries strictly older than `before`. */
  list(organizationId: string, filter: AuditFilter, page: { limit: number; before?: string }): Promise<AuditRecord[]>;
  /** Offset page (CACP `page`/`per_page` compatibility) with the total count. */
  listPage(
    organizationId: string,
    filter: AuditFilter,
    page: { limit: number; offset: number },
  ): Promise<{ records: AuditRecord[]; total: number }>;
  /** One entry of the tenant, or undefined. */
  get(organizationId: string, id: string): Promise<AuditRecord | undefined>;
}

/** Tuning of {@link createAuditLog}. */
export interface AuditLogOptions {
  /** Inserts running at once (≤ the pool size; 1 for PGlite). @default 2 */
  maxConcurrentInserts?: number;
  /** Most entries in one INSERT. @default 200 */
  maxBatch?: number;
  /** Called for every entry the database refused (after it went to the error log). */
  onWriteFailed?: () => void;
}

type AuditRow = Insertable<CapstanDatabase['audit_logs']>;

/**
 * Creates the audit log over the `audit_logs` table (migration 0004). Appends are group-committed: an entry
 * recorded while an INSERT runs waits for it and goes with the others in the next multi-row INSERT, so a busy
 * gateway writes one statement per batch instead of one transaction per request, and `record()` still resolves
 * only once its entry is committed (the audited response never leaves before its entry is stored).
 */
export function createAuditLog(db: Kysely<CapstanDatabase>, logger: Logger, options: AuditLogOptions = {}): AuditLog {
  const insertAlone = async (row: AuditRow): Promise<string | null> => {
    try {
      await db.insertInto('audit_logs').values(row).execute();
      return row.id;
    } catch (err) {
      // The whole entry goes to the log (it holds no secrets), so an outage loses no audit record for good.
      logger.error({ err, audit_entry: row }, 'could not append audit log entry; the entry is in this log line');
      options.onWriteFailed?.();
      return null;
    }
  };
  const appends = createGroupCommit<AuditRow, string | null>({
    maxBatch: options.maxBatch ?? 200,
    maxConcurrent: options.maxConcurrentInserts ?? 2,
    async flush(rows) {
      if (rows.length === 1) return [await insertAlone(rows[0]!)];
      try {
        await db.insertInto('audit_logs').values(rows).execute();
        return rows.map((r) => r.id);
      } catch {
        // One bad entry must not cost the others theirs: retry each alone (and log the ones that still fail).
        return Promise.all(rows.map(insertAlone));
      }
    },
  });

  function filtered(organizationId: string, filter: AuditFilter) {
    let query = db.selectFrom('audit_logs').where('organization_id', '=', organizationId);
    if (filter.actorType) query = query.where('actor_type', '=', filter.actorType);
    if (filter.actorId) query = query.where('actor_id', '=', filter.actorId);
    if (filter.action) query = query.where('action', '=', filter.action);
    if (filter.resourceType) query = query.where('resource_type', '=', filter.resourceType);
    if (filter.resourceId) query = query.where('resource_id', '=', filter.resourceId);
    if (filter.outcome) query = query.where('outcome', '=', filter.outcome);
    if (filter.from) query = query.where('created_at', '>=', filter.from);
    if (filter.to) query = query.where('created_at', '<=', filter.to);
    return query;
  }

  const selectAll = <O>(query: SelectQueryBuilder<CapstanDatabase, 'audit_logs', O>) =>
    query.select([
      'id',
      'organization_id',
      'actor_type',
      'actor_id',
      'action',
      'resource_type',
      'resource_id',
      'outcome',
      'status_code',
      'ip_address',
      'user_agent',
      'trace_id',
      'details',
      'created_at',
    ]);

  return {
    record(entry) {
      return appends.submit({
        id: newAuditLogId(),
        organization_id: entry.organizationId,
        actor_type: entry.actorType,
        actor_id: entry.actorId,
        action: entry.action,
        resource_type: entry.resourceType,
        resource_id: entry.resourceId,
        outcome: entry.outcome,
        status_code: entry.statusCode,
        ip_address: entry.ipAddress,
        user_agent: entry.userAgent.slice(0, 512),
        trace_id: entry.traceId,
        details: entry.details === null ? null : JSON.stringify(entry.details),
      });
    },

    async list(organizationId, filter, page) {
      let query = filtered(organizationId, filter);
      if (page.before) query = query.where('id', '<', page.before);
      return selectAll(query).orderBy('id', 'desc').limit(page.limit).execute();
    },

    async listPage(organizationId, filter, page) {
      const [records, count] = await Promise.all([
        selectAll(filtered(organizationId, filter))
          .orderBy('id', 'desc')
          .limit(page.limit)
          .offset(page.offset)
          .execute(),
        filtered(organizationId, filter)
          .select((eb) => eb.fn.countAll<string>().as('total'))
          .executeTakeFirstOrThrow(),
      ]);
      return { records, total: Number(count.total) };
    },

    get(organizationId, id) {
      return selectAll(db.selectFrom('audit_logs').where('organization_id', '=', organizationId).where('id', '=', id))
        .limit(1)
        .executeTakeFirst();
    },
  };
}
