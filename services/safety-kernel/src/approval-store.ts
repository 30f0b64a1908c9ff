import { randomBytes } from 'node:crypto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { type ApprovalSchema, ApprovalState } from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import type { PolicyCheckRequest, PolicyCheckResponse } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { policyRequestHash } from '@capstan/protocol';
import type { CapstanDatabase, PolicyApprovalsTable } from '@capstan/store';
import type { Kysely, Selectable } from 'kysely';
import { APPROVAL_ID_PREFIX } from './limits.js';

/** A policy_approvals row as read. */
export type ApprovalRow = Selectable<PolicyApprovalsTable>;

/** States stored in policy_approvals.state. */
export type ApprovalStateName = 'PENDING' | 'APPROVED' | 'REJECTED' | 'EXPIRED';

/** Why a decision could not be applied. */
export type DecideProblem =
  | { kind: 'not_found' }
  | { kind: 'expired'; row: ApprovalRow }
  | { kind: 'not_pending'; row: ApprovalRow };

/** Filters of {@link ApprovalStore.list}. */
export interface ApprovalFilter {
  state?: ApprovalStateName;
  tenant?: string;
  limit: number;
}

/** Human approvals bound to a request hash and a policy snapshot (policy_approvals, migration 0003). */
export interface ApprovalStore {
  /**
   * The approval for a REQUIRE_HUMAN decision: creates a PENDING one, or returns the id of the existing approval
   * with the same job id, request hash and snapshot (a re-check of a parked job finds the same approval).
   */
  ensure(request: PolicyCheckRequest, response: PolicyCheckResponse, ttlMs: number, now: Date): Promise<string>;
  /** Approvals, newest first; PENDING approvals past their expiry are marked EXPIRED first. */
  list(filter: ApprovalFilter, now: Date): Promise<ApprovalRow[]>;
  /** One approval by id, or the newest of a job; expiry applied as in `list`. */
  get(by: { approvalId?: string; jobId?: string }, now: Date): Promise<ApprovalRow | undefined>;
  /** Approves or rejects a PENDING, unexpired approval. */
  decide(
    approvalId: string,
    decision: { state: 'APPROVED' | 'REJECTED'; approver: string; reason: string },
    now: Date,
  ): Promise<{ row: ApprovalRow } | { problem: DecideProblem }>;
  /** Approvals PENDING and not past their expiry (read only: nothing is marked EXPIRED). */
  countOpen(now: Date): Promise<number>;
}

/** A new approval id: `apr_` + 20 random hex digits. */
export function newApprovalId(): string {
  return `${APPROVAL_ID_PREFIX}${randomBytes(10).toString('hex')}`;
}

const STATE_BY_NAME: Record<string, ApprovalState> = {
  PENDING: ApprovalState.PENDING,
  APPROVED: ApprovalState.APPROVED,
  REJECTED: ApprovalState.REJECTED,
  EXPIRED: ApprovalState.EXPIRED,
};

/** The stored state name of a wire ApprovalState (undefined for UNSPECIFIED). */
export function approvalStateName(state: ApprovalState): ApprovalStateName | undefined {
  for (const [name, value] of Object.entries(STATE_BY_NAME)) if (value === state) return name as ApprovalStateName;
  return undefined;
}

/** The wire form of a row. */
export function toApprovalMessage(row: ApprovalRow): MessageInitShape<typeof ApprovalSchema> {
  return {
    approvalId: row.approval_id,
    jobId: row.job_id,
    tenant: row.tenant,
    topic: row.topic,
    requestHash: row.request_hash,
    policySnapshot: row.policy_snapshot,
    ruleId: row.rule_id,
    reason: row.reason,
    state: STATE_BY_NAME[row.state] ?? ApprovalState.UNSPECIFIED,
    decidedBy: row.decided_by,
    decisionReason: row.decision_reason,
    createdAt: timestampFromDate(new Date(row.created_at)),
    ...(row.decided_at ? { decidedAt: timestampFromDate(new Date(row.decided_at)) } : {}),
    expiresAt: timestampFromDate(new Date(row.expires_at)),
    principalId: row.principal_id,
  };
}

/** Approval storage over the Capstan database. */
export function createApprovalStore(db: Kysely<CapstanDatabase>): ApprovalStore {
  const expireDue = (now: Date) =>
    db
      .updateTable('policy_approvals')
      .set({ state: 'EXPIRED' })
      .where('state', '=', 'PENDING')
      .where('expires_at', '<=', now)
      .execute();

  return {
    async ensure(request, response, ttlMs, now) {
      const requestHash = policyRequestHash(request);
      const inserted = await db
        .insertInto('policy_approvals')
        .values({
          approval_id: newApprovalId(),
          job_id: request.jobId,
          tenant: request.tenant || request.meta?.tenantId || '',
          topic: request.topic,
          principal_id: request.principalId || request.meta?.actorId || '',
          request_hash: requestHash,
          policy_snapshot: response.policySnapshot,
          rule_id: response.ruleId,
          reason: response.reason,
          state: 'PENDING',
          created_at: now,
          expires_at: new Date(now.getTime() + ttlMs),
        })
        .onConflict((oc) => oc.columns(['job_id', 'request_hash', 'policy_snapshot']).doNothing())
        .returning('approval_id')
        .executeTakeFirst();
      if (inserted) return inserted.approval_id;
      const existing = await db
        .selectFrom('policy_approvals')
        .select('approval_id')
        .where('job_id', '=', request.jobId)
        .where('request_hash', '=', requestHash)
        .where('policy_snapshot', '=', response.policySnapshot)
        .executeTakeFirstOrThrow();
      return existing.approval_id;
    },

    async list(filter, now) {
      await expireDue(now);
      let q = db.selectFrom('policy_approvals').selectAll();
      if (filter.state) q = q.where('state', '=', filter.state);
      if (filter.tenant) q = q.where('tenant', '=', filter.tenant);
      return q.orderBy('created_at', 'desc').orderBy('approval_id').limit(filter.limit).execute();
    },

    async get(by, now) {
      await expireDue(now);
      let q = db.selectFrom('policy_approvals').selectAll();
      q = by.approvalId ? q.where('approval_id', '=', by.approvalId) : q.where('job_id', '=', by.jobId ?? '');
      return q.orderBy('created_at', 'desc').limit(1).executeTakeFirst();
    },

    async decide(approvalId, decision, now) {
      const row = await db
        .updateTable('policy_approvals')
        .set({
          state: decision.state,
          decided_by: decision.approver,
          decision_reason: decision.reason,
          decided_at: now,
        })
        .where('approval_id', '=', approvalId)
        .where('state', '=', 'PENDING')
        .where('expires_at', '>', now)
        .returningAll()
        .executeTakeFirst();
      if (row) return { row };
      const current = await db
        .selectFrom('policy_approvals')
        .selectAll()
        .where('approval_id', '=', approvalId)
        .executeTakeFirst();
      if (!current) return { problem: { kind: 'not_found' } };
      if (current.state === 'PENDING') {
        // Past its expiry: record that, so lists and the scheduler see EXPIRED.
        await expireDue(now);
        return { problem: { kind: 'expired', row: { ...current, state: 'EXPIRED' } } };
      }
      return { problem: { kind: 'not_pending', row: current } };
    },

    async countOpen(now) {
      const row = await db
        .selectFrom('policy_approvals')
        .select((eb) => eb.fn.countAll<string | number>().as('n'))
        .where('state', '=', 'PENDING')
        .where('expires_at', '>', now)
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
  };
}
