/** An error class whose instances are expected failures (bad input or environment), not bugs. */
export type ExpectedErrorClass = abstract new (...args: never[]) => Error;

/**
 * Prints a command's failure to stderr as `capstan <command>: <message>` and sets a non-zero exit code.
 * Expected failures (bad config, missing binaries, busy ports) show only their message; anything else also
 * shows its stack, since that is a bug worth reporting.
 */
export function reportError(command: string, error: unknown, expected: readonly ExpectedErrorClass[]): void {
  const isExpected = expected.some((type) => error instanceof type);
  const text = error instanceof Error ? (isExpected ? error.message : (error.stack ?? error.message)) : String(error);
  process.stderr.write(`capstan ${command}: ${text}\n`);
  process.exitCode = 1;
}
