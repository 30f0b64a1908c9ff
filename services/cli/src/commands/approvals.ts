import type { Command } from 'commander';
import { KERNEL_OPTION, runPolicyAction } from './run-policy-action.js';

/** `capstan approvals list|show|approve|reject`: human decisions on jobs a policy sent for approval. */
export function registerApprovalsCommand(program: Command): void {
  const approvals = program
    .command('approvals')
    .description('list and decide the approvals of jobs a require_human policy rule holds (see docs/policy.md)');

  approvals
    .command('list')
    .description('list approvals, newest first')
    .option('--state <state>', 'only pending, approved, rejected or expired')
    .option('--tenant <id>', 'only this tenant')
    .option('--limit <n>', 'at most this many', '100')
    .option(KERNEL_OPTION.flags, KERNEL_OPTION.description)
    .action((options) => runPolicyAction('approvals list', (r) => r.runApprovalsList(options)));

  approvals
    .command('show <approval-id>')
    .description('show one approval: job, rule, request hash, snapshot, state and who decided')
    .option(KERNEL_OPTION.flags, KERNEL_OPTION.description)
    .action((id: string, options) => runPolicyAction('approvals show', (r) => r.runApprovalsShow(id, options)));

  for (const verb of ['approve', 'reject'] as const) {
    approvals
      .command(`${verb} <approval-id>`)
      .description(
        verb === 'approve'
          ? 'approve a pending approval: the scheduler dispatches the job if its request and policy are unchanged'
          : 'reject a pending approval: the job ends DENIED',
      )
      .requiredOption('--by <name>', 'who decides (recorded on the approval and the job)')
      .option('--reason <text>', 'why')
      .option(KERNEL_OPTION.flags, KERNEL_OPTION.description)
      .action((id: string, options) =>
        runPolicyAction(`approvals ${verb}`, (r) => r.runApprovalDecision(verb, id, options)),
      );
  }
}
