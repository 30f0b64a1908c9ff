import { Command } from 'commander';
import { cliVersion } from './cli-version.js';
import { registerApprovalsCommand } from './commands/approvals.js';
import { registerDevCommand } from './commands/dev.js';
import { registerGatewayCommand } from './commands/gateway.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { registerPolicyCommand } from './commands/policy.js';
import { registerSafetyKernelCommand } from './commands/safety-kernel.js';
import { registerSchedulerCommand } from './commands/scheduler.js';
import { registerSubmitCommand } from './commands/submit.js';
import { registerVersionCommand } from './commands/version.js';

/** Builds the `capstan` command line with every command registered. */
export function createProgram(): Command {
  const program = new Command('capstan')
    .description('Capstan: a protobuf-first control plane for AI agents over NATS (CAP wire compatible)')
    .version(cliVersion(), '-V, --version', 'print the Capstan version')
    .showHelpAfterError();
  registerVersionCommand(program);
  registerMigrateCommand(program);
  registerDevCommand(program);
  registerSubmitCommand(program);
  registerSchedulerCommand(program);
  registerSafetyKernelCommand(program);
  registerGatewayCommand(program);
  registerPolicyCommand(program);
  registerApprovalsCommand(program);
  return program;
}
