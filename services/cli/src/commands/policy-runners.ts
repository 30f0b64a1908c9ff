/**
 * What `capstan policy` and `capstan approvals` load on use: the runners, and the errors they report without a
 * stack.
 */
import { PolicyArgumentError } from '@capstan/policy';
import { KernelRequestError, KernelUnreachableError } from '../kernel/kernel-errors.js';
import type { ExpectedErrorClass } from '../report-error.js';
import { UsageError } from '../usage-error.js';

export { runApprovalDecision, runApprovalsList, runApprovalsShow } from '../approvals/run-approvals.js';
export {
  runPolicyActivate,
  runPolicyExplain,
  runPolicyList,
  runPolicyRollback,
  runPolicySimulate,
  runPolicyUpload,
} from '../policy/run-policy-kernel.js';
export { runPolicyLint, runPolicyTest } from '../policy/run-policy-local.js';

/** Failures of `capstan policy` / `capstan approvals` that are the user's or the environment's, not bugs. */
export const EXPECTED_POLICY_ERRORS: readonly ExpectedErrorClass[] = [
  UsageError,
  KernelUnreachableError,
  KernelRequestError,
  PolicyArgumentError,
];
