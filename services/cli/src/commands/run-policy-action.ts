import { reportError } from '../report-error.js';

/** The runners of `capstan policy` / `capstan approvals`, loaded on use. */
export type PolicyRunners = typeof import('./policy-runners.js');

/**
 * Runs a `capstan policy` or `capstan approvals` subcommand: the runners are loaded on use (so `capstan --help`
 * stays fast), expected failures are printed as `capstan <command>: <message>` without a stack, and the number
 * the runner returns becomes the exit code.
 */
export async function runPolicyAction(
  command: string,
  action: (runners: PolicyRunners) => number | Promise<number>,
): Promise<void> {
  const runners = await import('./policy-runners.js');
  try {
    const code = await action(runners);
    if (code !== 0) process.exitCode = code;
  } catch (error) {
    reportError(command, error, runners.EXPECTED_POLICY_ERRORS);
  }
}

/** The `--kernel` option every subcommand that talks to the safety kernel takes. */
export const KERNEL_OPTION = {
  flags: '--kernel <url>',
  description:
    'safety kernel URL (default: $CAPSTAN_SAFETY_KERNEL_URL / $SAFETY_KERNEL_URL, the `capstan dev` running in ' +
    'this directory, else http://127.0.0.1:50051)',
} as const;
