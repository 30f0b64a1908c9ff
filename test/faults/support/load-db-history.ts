import type { CapstanDatabase } from '@capstan/store';
import type { Kysely } from 'kysely';
import type { DbHistory } from './history.js';

const ms = (d: Date | null): number | null => (d === null ? null : d.getTime());

/** Reads what the checker needs from a run's database: jobs, their events, sagas and the kernel's decisions. */
export async function loadDbHistory(db: Kysely<CapstanDatabase>): Promise<DbHistory> {
  const [jobs, events, rollbacks, compensations, policyDecisions] = await Promise.all([
    db
      .selectFrom('jobs')
      .select([
        'job_id',
        'tenant',
        'state',
        'attempt',
        'lease_epoch',
        'worker_id',
        'decision',
        'policy_snapshot',
        'idempotency_key',
        'workflow_id',
        'step_index',
        'compensation_of',
        'dlq_reason',
        'error_message',
        'created_at',
        'finished_at',
      ])
      .execute(),
    db
      .selectFrom('job_events')
      .select(['job_id', 'seq', 'from_state', 'to_state', 'reason', 'attempt', 'lease_epoch', 'worker_id', 'at'])
      .orderBy('job_id')
      .orderBy('seq')
      .execute(),
    db.selectFrom('saga_rollbacks').select(['tenant', 'workflow_id', 'trigger_job_id', 'finished_at']).execute(),
    db
      .selectFrom('saga_compensations')
      .select(['job_id', 'workflow_id', 'tenant', 'step_index', 'compensation_job_id'])
      .execute(),
    db.selectFrom('policy_decisions').select(['job_id', 'decision', 'policy_snapshot']).execute(),
  ]);
  return {
    jobs: jobs.map((j) => ({
      jobId: j.job_id,
      tenant: j.tenant,
      state: j.state,
      attempt: j.attempt,
      leaseEpoch: j.lease_epoch,
      workerId: j.worker_id,
      decision: j.decision,
      policySnapshot: j.policy_snapshot,
      idempotencyKey: j.idempotency_key,
      workflowId: j.workflow_id,
      stepIndex: j.step_index,
      compensationOf: j.compensation_of,
      dlqReason: j.dlq_reason,
      errorMessage: j.error_message,
      createdAt: j.created_at.getTime(),
      finishedAt: ms(j.finished_at),
    })),
    events: events.map((e) => ({
      jobId: e.job_id,
      seq: e.seq,
      fromState: e.from_state,
      toState: e.to_state,
      reason: e.reason,
      attempt: e.attempt,
      leaseEpoch: e.lease_epoch,
      workerId: e.worker_id,
      at: e.at.getTime(),
    })),
    rollbacks: rollbacks.map((r) => ({
      tenant: r.tenant,
      workflowId: r.workflow_id,
      triggerJobId: r.trigger_job_id,
      finishedAt: ms(r.finished_at),
    })),
    compensations: compensations.map((c) => ({
      jobId: c.job_id,
      workflowId: c.workflow_id,
      tenant: c.tenant,
      stepIndex: c.step_index,
      compensationJobId: c.compensation_job_id,
    })),
    policyDecisions: policyDecisions.map((d) => ({
      jobId: d.job_id,
      decision: d.decision,
      policySnapshot: d.policy_snapshot,
    })),
  };
}
