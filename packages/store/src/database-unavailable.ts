/**
 * Node socket errors and PostgreSQL SQLSTATEs that mean "the server is not there right now" rather than "this
 * statement is wrong": connection exceptions (class 08), shutdown / starting up (57P01–57P03), too many
 * connections (53300).
 */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

// node-postgres reports a dropped or unobtainable connection with plain Errors carrying only these messages.
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Cannot use a pool after calling end',
  'Client was closed and is not queryable',
];

/**
 * True when `err` (or an error in its `cause` chain) says PostgreSQL is unreachable, restarting or out of
 * connections — an outage to wait out, not a problem with the statement. Callers retry such work instead of
 * giving up on it (the scheduler keeps redelivering acknowledged submits until the database is back).
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
    if (UNAVAILABLE_MESSAGES.some((m) => e.message.includes(m))) return true;
    if (e instanceof AggregateError && e.errors.some((inner) => isDatabaseUnavailable(inner))) return true;
  }
  return false;
}
