/**
 * A zod `error` option that replaces the message of a present-but-wrong value and keeps zod's own
 * "expected …, received undefined" for a missing one, so missing fields are still reported as such (3002).
 */
export function whenPresent(message: string) {
  return (issue: { input?: unknown }) => (issue.input === undefined ? undefined : message);
}
