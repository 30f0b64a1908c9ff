import type { CapstanDatabase, PolicyActivationsTable, PolicySnapshotsTable } from '@capstan/store';
import { type Kysely, type Selectable, sql } from 'kysely';

/** A policy_snapshots row as read. */
export type SnapshotRow = Selectable<PolicySnapshotsTable>;

/** A policy_activations row as read. */
export type ActivationRow = Selectable<PolicyActivationsTable>;

/** A kept snapshot with its newest activation (if any), for ListSnapshots / ListBundles. */
export interface KeptSnapshotRow {
  snapshot_id: string;
  version: string;
  rule_count: number;
  source: string;
  created_at: Date;
  activated_at: Date | null;
  activated_by: string | null;
}

/** What is stored for a new snapshot. */
export interface NewSnapshot {
  snapshotId: string;
  version: string;
  yaml: string;
  file: string;
  ruleCount: number;
  cacheable: boolean;
  source: string;
  createdBy: string;
}

/** What an activation records. */
export interface NewActivation {
  snapshotId: string;
  actor: string;
  /** "admin", "file", "rollback", "startup". */
  source: string;
  reason: string;
  at: Date;
}

/** Durable snapshots and the activation audit trail (migration 0003). */
export interface SnapshotStore {
  /** Stores a snapshot; storing the same content again is a no-op that returns the first row. */
  save(snapshot: NewSnapshot): Promise<SnapshotRow>;
  get(snapshotId: string): Promise<SnapshotRow | undefined>;
  /** The newest activation: the snapshot every replica should run. */
  newestActivation(): Promise<ActivationRow | undefined>;
  /**
   * Records an activation unless the snapshot is already the newest one (several replicas watching the same file
   * would otherwise each record it). `previous_snapshot_id` is read in the same statement.
   */
  activate(activation: NewActivation): Promise<{ row: ActivationRow; inserted: boolean }>;
  /** The `limit` snapshots most recently created or activated, newest first. */
  kept(limit: number): Promise<KeptSnapshotRow[]>;
  /** One snapshot with its newest activation. */
  describe(snapshotId: string): Promise<KeptSnapshotRow | undefined>;
  /** The activation trail, newest first. */
  activations(limit: number): Promise<ActivationRow[]>;
}

const KEPT_COLUMNS = sql`
  s.snapshot_id, s.version, s.rule_count, s.source, s.created_at, la.at AS activated_at, la.actor AS activated_by
  FROM policy_snapshots s
  LEFT JOIN LATERAL (
    SELECT at, actor FROM policy_activations a WHERE a.snapshot_id = s.snapshot_id ORDER BY id DESC LIMIT 1
  ) la ON true`;

/** Snapshot storage over the Capstan database. */
export function createSnapshotStore(db: Kysely<CapstanDatabase>): SnapshotStore {
  const newest = () =>
    db.selectFrom('policy_activations').selectAll().orderBy('id', 'desc').limit(1).executeTakeFirst();
  return {
    async save(s) {
      const inserted = await db
        .insertInto('policy_snapshots')
        .values({
          snapshot_id: s.snapshotId,
          version: s.version,
          bundle_yaml: s.yaml,
          file: s.file,
          rule_count: s.ruleCount,
          cacheable: s.cacheable,
          source: s.source,
          created_by: s.createdBy,
        })
        .onConflict((oc) => oc.column('snapshot_id').doNothing())
        .returningAll()
        .executeTakeFirst();
      return (
        inserted ??
        (await db
          .selectFrom('policy_snapshots')
          .selectAll()
          .where('snapshot_id', '=', s.snapshotId)
          .executeTakeFirstOrThrow())
      );
    },

    get: (snapshotId) =>
      db.selectFrom('policy_snapshots').selectAll().where('snapshot_id', '=', snapshotId).executeTakeFirst(),

    newestActivation: newest,

    async activate(a) {
      const result = await sql<ActivationRow>`
        INSERT INTO policy_activations (snapshot_id, previous_snapshot_id, actor, source, reason, at)
        SELECT ${a.snapshotId}::text, COALESCE(cur.snapshot_id, ''), ${a.actor}::text, ${a.source}::text, ${a.reason}::text,
               ${a.at}::timestamptz
        FROM (SELECT 1) AS one
        LEFT JOIN (SELECT snapshot_id FROM policy_activations ORDER BY id DESC LIMIT 1) AS cur ON true
        WHERE cur.snapshot_id IS DISTINCT FROM ${a.snapshotId}::text
        RETURNING *`.execute(db);
      const row = result.rows[0];
      if (row) return { row, inserted: true };
      const current = await newest();
      if (!current) throw new Error('policy_activations: activation neither inserted nor found');
      return { row: current, inserted: false };
    },

    async kept(limit) {
      const result = await sql<KeptSnapshotRow>`
        SELECT ${KEPT_COLUMNS}
        ORDER BY GREATEST(s.created_at, COALESCE(la.at, s.created_at)) DESC, s.snapshot_id
        LIMIT ${limit}::int`.execute(db);
      return result.rows;
    },

    async describe(snapshotId) {
      const result =
        await sql<KeptSnapshotRow>`SELECT ${KEPT_COLUMNS} WHERE s.snapshot_id = ${snapshotId}::text`.execute(db);
      return result.rows[0];
    },

    activations: (limit) =>
      db.selectFrom('policy_activations').selectAll().orderBy('id', 'desc').limit(limit).execute(),
  };
}
