import type { Command } from 'commander';
import { KERNEL_OPTION, runPolicyAction } from './run-policy-action.js';

const REQUEST_HELP =
  'a cordum.agent.v1.PolicyCheckRequest in proto JSON: text, @file.json or - for stdin ' +
  '(e.g. \'{"topic":"job.echo","tenant":"acme"}\')';

/** `capstan policy lint|test|explain|simulate|upload|activate|rollback|list`. */
export function registerPolicyCommand(program: Command): void {
  const policy = program
    .command('policy')
    .description('write, test and ship safety-kernel policy bundles (see docs/policy.md)');

  policy
    .command('lint <file>')
    .description('validate a bundle (and its <name>.tests.yaml); prints file:line:col: path: message per issue')
    .option('--tests <file>', 'tests file to validate instead of <name>.tests.yaml beside the bundle')
    .action((file: string, options: { tests?: string }) =>
      runPolicyAction('policy lint', (c) => c.runPolicyLint(file, options.tests)),
    );

  policy
    .command('test <file>')
    .description("run the bundle's tests: its embedded tests: and those of <name>.tests.yaml beside it")
    .option('--tests <file>', 'tests file to run instead of <name>.tests.yaml beside the bundle')
    .action((file: string, options: { tests?: string }) =>
      runPolicyAction('policy test', (c) => c.runPolicyTest(file, options.tests)),
    );

  policy
    .command('explain')
    .description('show the decision for a request and, for every rule, whether it matched and why not')
    .requiredOption('-r, --request <json>', REQUEST_HELP)
    .option('-b, --bundle <file>', 'explain against this bundle file locally instead of the active snapshot')
    .option(KERNEL_OPTION.flags, KERNEL_OPTION.description)
    .action((options) => runPolicyAction('policy explain', (c) => c.runPolicyExplain(options)));

  policy
    .command('simulate')
    .description('evaluate a candidate bundle in the kernel and report which decisions would change, rule by rule')
    .requiredOption('-b, --bundle <file>', 'the candidate bundle')
    .option('-r, --request <json>', REQUEST_HELP)
    .option('--requests <file>', 'a JSON-lines file of requests to replay (one PolicyCheckRequest per line)')
    .option('--replay <n>', 'replay the last N requests the kernel recorded')
    .option(KERNEL_OPTION.flags, KERNEL_OPTION.description)
    .action((options) => runPolicyAction('policy simulate', (c) => c.runPolicySimulate(options)));

  policy
    .command('upload <file>')
    .description('store a bundle in the kernel as a snapshot (kept, listed, activatable)')
    .option('--activate', 'activate it at once on every replica')
    .option('--require-tests-pass', "refuse to activate when one of the bundle's embedded tests fails")
    .option('--actor <name>', 'who uploads it, for the audit trail (default: your user name)')
    .option(KERNEL_OPTION.flags, KERNEL_OPTION.description)
    .action((file: string, options) => runPolicyAction('policy upload', (c) => c.runPolicyUpload(file, options)));

  policy
    .command('activate <snapshot-id>')
    .description('switch every kernel replica and scheduler to a stored snapshot')
    .option('--actor <name>', 'who activates it (default: your user name)')
    .option('--reason <text>', 'why, for the audit trail')
    .option(KERNEL_OPTION.flags, KERNEL_OPTION.description)
    .action((id: string, options) => runPolicyAction('policy activate', (c) => c.runPolicyActivate(id, options)));

  policy
    .command('rollback')
    .description('re-activate the snapshot that was active before the current one')
    .option('--actor <name>', 'who rolls back (default: your user name)')
    .option('--reason <text>', 'why, for the audit trail')
    .option(KERNEL_OPTION.flags, KERNEL_OPTION.description)
    .action((options) => runPolicyAction('policy rollback', (c) => c.runPolicyRollback(options)));

  policy
    .command('list')
    .description('list the stored snapshots, newest first; * marks the active one')
    .option(KERNEL_OPTION.flags, KERNEL_OPTION.description)
    .action((options) => runPolicyAction('policy list', (c) => c.runPolicyList(options)));
}
