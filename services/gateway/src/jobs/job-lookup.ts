import type { GatewayContext } from '../app/gateway-context.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { AcceptedJob } from './accepted-jobs.js';
import type { JobRow } from './job-view.js';

/** A job of the caller's organization: recorded by the scheduler, or only accepted so far. */
export type LocatedJob = { kind: 'recorded'; row: JobRow } | { kind: 'accepted'; accepted: AcceptedJob };

/** The `jobs` row of `jobId` when it belongs to `tenant`. */
export async function findJobRow(gateway: GatewayContext, tenant: string, jobId: string): Promise<JobRow | undefined> {
  return gateway.db
    .selectFrom('jobs')
    .selectAll()
    .where('job_id', '=', jobId)
    .where('tenant', '=', tenant)
    .executeTakeFirst();
}

/**
 * Finds a job of `tenant`: its row, or — between the JetStream ack and the scheduler's commit — the gateway's
 * accepted-submit record. A job of another tenant is indistinguishable from a missing one.
 */
export async function locateJob(
  gateway: GatewayContext,
  tenant: string,
  jobId: string,
): Promise<LocatedJob | undefined> {
  const row = await findJobRow(gateway, tenant, jobId);
  if (row) return { kind: 'recorded', row };
  const accepted = await gateway.acceptedJobs.get(jobId).catch(() => undefined);
  if (accepted && accepted.tenant === tenant) return { kind: 'accepted', accepted };
  return undefined;
}

/** The 404 for a job id that is missing or belongs to another organization (same answer for both). */
export function jobNotFound(jobId: string): GatewayError {
  return new GatewayError('TASK_NOT_FOUND', `Job ${jobId} not found`);
}

/** {@link locateJob}, or the 404. */
export async function requireJob(gateway: GatewayContext, tenant: string, jobId: string): Promise<LocatedJob> {
  const job = await locateJob(gateway, tenant, jobId);
  if (!job) throw jobNotFound(jobId);
  return job;
}
