import type { Command } from 'commander';
import { cliVersion } from '../cli-version.js';

/** `capstan version`: prints the CLI version and the Node.js it runs on. */
export function registerVersionCommand(program: Command): void {
  program
    .command('version')
    .description('print the Capstan version')
    .action(() => {
      process.stdout.write(`capstan ${cliVersion()} (node ${process.version})\n`);
    });
}
