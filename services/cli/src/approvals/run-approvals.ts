import { resolveKernelEndpoint } from '../kernel/kernel-endpoint.js';
import { callKernel, createPolicyAdminClient } from '../kernel/policy-admin-client.js';
import type { KernelCommandOptions } from '../policy/run-policy-kernel.js';
import { UsageError } from '../usage-error.js';
import { approvalStateLabel, formatApproval, formatApprovalList, parseApprovalState } from './format-approvals.js';

/** Options of `capstan approvals list`. */
export interface ApprovalsListOptions extends KernelCommandOptions {
  /** pending, approved, rejected or expired; every state when absent. */
  state?: string;
  tenant?: string;
  /** At most this many, newest first. */
  limit?: string;
}

/** Options of `capstan approvals approve` and `reject`. */
export interface ApprovalDecisionOptions extends KernelCommandOptions {
  /** Who decides (required; recorded on the approval and in the job's history). */
  by: string;
  reason?: string;
}

function kernelClient(options: KernelCommandOptions) {
  const endpoint = resolveKernelEndpoint({ flag: options.kernel });
  return { endpoint, client: createPolicyAdminClient(endpoint) };
}

function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return 100;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) {
    throw new UsageError(`--limit ${JSON.stringify(raw)} is invalid: expected a number from 1 to 10000`);
  }
  return n;
}

/** `capstan approvals list [--state S] [--tenant T]`. */
export async function runApprovalsList(options: ApprovalsListOptions): Promise<number> {
  const state = parseApprovalState(options.state);
  const limit = parseLimit(options.limit);
  const { endpoint, client } = kernelClient(options);
  const res = await callKernel(endpoint, 'list approvals', () =>
    client.listApprovals({ state, tenant: options.tenant ?? '', limit }),
  );
  process.stdout.write(`${formatApprovalList(res.approvals)}\n`);
  return 0;
}

/** `capstan approvals show ID`. */
export async function runApprovalsShow(approvalId: string, options: KernelCommandOptions): Promise<number> {
  const { endpoint, client } = kernelClient(options);
  const approval = await callKernel(endpoint, `show approval ${approvalId}`, () => client.getApproval({ approvalId }));
  process.stdout.write(`${formatApproval(approval)}\n`);
  return 0;
}

/**
 * `capstan approvals approve|reject ID --by NAME [--reason R]`: decides a pending approval; the kernel tells the
 * scheduler, which dispatches (approve) or denies (reject) the job, and the job's new state is printed.
 */
export async function runApprovalDecision(
  verb: 'approve' | 'reject',
  approvalId: string,
  options: ApprovalDecisionOptions,
): Promise<number> {
  const approver = options.by?.trim();
  if (!approver) throw new UsageError(`--by is required: the name of the person who decides to ${verb}`);
  const { endpoint, client } = kernelClient(options);
  const request = { approvalId, approver, reason: options.reason ?? '' };
  const res = await callKernel(endpoint, `${verb} ${approvalId}`, () =>
    verb === 'approve' ? client.approve(request) : client.reject(request),
  );
  const a = res.approval;
  const state = a ? approvalStateLabel(a.state) : verb === 'approve' ? 'APPROVED' : 'REJECTED';
  const job = a?.jobId ? `job ${a.jobId}` : 'the job';
  const after = res.jobState
    ? `${job} is now ${res.jobState}`
    : `no scheduler answered yet; it applies the decision to ${job} when it next checks`;
  process.stdout.write(`${approvalId} ${state} by ${approver}; ${after}\n`);
  return 0;
}
