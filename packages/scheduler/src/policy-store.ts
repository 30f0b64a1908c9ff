import type { CapstanDatabase } from '@capstan/store';
import type { Kysely } from 'kysely';

/** States of a `policy_approvals` row (written by the safety kernel). */
export type ApprovalState = 'PENDING' | 'APPROVED' | 'REJECTED' | 'EXPIRED';

/** The parts of a `policy_approvals` row the scheduler acts on. */
export interface ApprovalRecord {
  approvalId: string;
  jobId: string;
  tenant: string;
  /** `policyRequestHash()` of the PolicyCheckRequest the kernel judged. */
  requestHash: string;
  /** Snapshot whose rule asked for the approval. */
  policySnapshot: string;
  state: ApprovalState | string;
  decidedBy: string;
  decisionReason: string;
  /** Epoch ms. */
  expiresAt: number;
}

/** Reads one approval; undefined when there is no such row. */
export async function loadApproval(
  db: Kysely<CapstanDatabase>,
  approvalId: string,
): Promise<ApprovalRecord | undefined> {
  const row = await db
    .selectFrom('policy_approvals')
    .select([
      'approval_id',
      'job_id',
      'tenant',
      'request_hash',
      'policy_snapshot',
      'state',
      'decided_by',
      'decision_reason',
      'expires_at',
    ])
    .where('approval_id', '=', approvalId)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    approvalId: row.approval_id,
    jobId: row.job_id,
    tenant: row.tenant,
    requestHash: row.request_hash,
    policySnapshot: row.policy_snapshot,
    state: row.state,
    decidedBy: row.decided_by,
    decisionReason: row.decision_reason,
    expiresAt: new Date(row.expires_at).getTime(),
  };
}

/** Marks a still-PENDING approval EXPIRED; false when it was no longer PENDING (a human got there first). */
export async function expireApproval(db: Kysely<CapstanDatabase>, approvalId: string): Promise<boolean> {
  const r = await db
    .updateTable('policy_approvals')
    .set({ state: 'EXPIRED' })
    .where('approval_id', '=', approvalId)
    .where('state', '=', 'PENDING')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** The active policy snapshot (newest `policy_activations` row) and whether its decisions may be cached. */
export async function loadActivePolicySnapshot(
  db: Kysely<CapstanDatabase>,
): Promise<{ snapshotId: string; cacheable: boolean } | undefined> {
  const row = await db
    .selectFrom('policy_activations as a')
    .innerJoin('policy_snapshots as s', 's.snapshot_id', 'a.snapshot_id')
    .select(['a.snapshot_id', 's.cacheable'])
    .orderBy('a.id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ? { snapshotId: row.snapshot_id, cacheable: Boolean(row.cacheable) } : undefined;
}
