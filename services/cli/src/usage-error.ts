/**
 * A usage mistake on the command line (a bad flag value, an unreadable file): the message says what was wrong
 * and what is expected, and it is reported without a stack.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}
