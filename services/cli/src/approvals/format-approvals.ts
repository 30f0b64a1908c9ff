import { type Approval, ApprovalState } from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import { formatTable, formatTime } from '../policy/format-policy.js';
import { UsageError } from '../usage-error.js';

/** `--state` values and their wire enum. */
export const APPROVAL_STATES = {
  pending: ApprovalState.PENDING,
  approved: ApprovalState.APPROVED,
  rejected: ApprovalState.REJECTED,
  expired: ApprovalState.EXPIRED,
} as const satisfies Record<string, ApprovalState>;

/** Parses `--state` (case-insensitive); undefined means every state. */
export function parseApprovalState(raw: string | undefined): ApprovalState {
  if (raw === undefined) return ApprovalState.UNSPECIFIED;
  const state = (APPROVAL_STATES as Record<string, ApprovalState>)[raw.toLowerCase()];
  if (state === undefined) {
    throw new UsageError(
      `--state ${JSON.stringify(raw)} is invalid: expected one of ${Object.keys(APPROVAL_STATES).join(', ')}`,
    );
  }
  return state;
}

/** `PENDING` for {@link ApprovalState.PENDING}. */
export function approvalStateLabel(state: ApprovalState): string {
  return state === ApprovalState.UNSPECIFIED ? 'UNKNOWN' : (ApprovalState[state] ?? `STATE(${state})`);
}

/** The table of `capstan approvals list`. */
export function formatApprovalList(approvals: readonly Approval[]): string {
  if (approvals.length === 0) return 'no approvals';
  const rows = approvals.map((a) => [
    a.approvalId,
    approvalStateLabel(a.state),
    a.tenant || '-',
    a.topic || '-',
    a.jobId || '-',
    a.ruleId || '-',
    formatTime(a.createdAt),
    a.state === ApprovalState.PENDING ? `expires ${formatTime(a.expiresAt)}` : `by ${a.decidedBy || '-'}`,
  ]);
  return formatTable([['APPROVAL', 'STATE', 'TENANT', 'TOPIC', 'JOB', 'RULE', 'CREATED', ''], ...rows]);
}

/** Every field of one approval, `name: value` per line (`capstan approvals show`). */
export function formatApproval(a: Approval): string {
  const fields: [string, string][] = [
    ['approval', a.approvalId],
    ['state', approvalStateLabel(a.state)],
    ['job', a.jobId],
    ['tenant', a.tenant],
    ['topic', a.topic],
    ['principal', a.principalId],
    ['rule', a.ruleId],
    ['reason', a.reason],
    ['policy snapshot', a.policySnapshot],
    ['request hash', a.requestHash],
    ['created', formatTime(a.createdAt)],
    ['expires', formatTime(a.expiresAt)],
  ];
  if (a.state !== ApprovalState.PENDING && a.state !== ApprovalState.UNSPECIFIED) {
    fields.push(
      ['decided', formatTime(a.decidedAt)],
      ['decided by', a.decidedBy],
      ['decision reason', a.decisionReason],
    );
  }
  const width = Math.max(...fields.map(([name]) => name.length)) + 1;
  return fields.map(([name, value]) => `${`${name}:`.padEnd(width)} ${value || '-'}`).join('\n');
}
