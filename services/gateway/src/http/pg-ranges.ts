/**
 * Ranges of the Postgres column types that ids and cursors from clients end up compared with: a value outside them
 * makes Postgres fail the query (22003), which must be the client's 4xx, not the server's 500.
 */

/** Largest `integer` (job event seq). */
export const MAX_PG_INTEGER = 2_147_483_647;

const MAX_PG_BIGINT = 9_223_372_036_854_775_807n;

/** Whether a string of decimal digits fits a Postgres `bigint` (DLQ ids, stored event ids). */
export function fitsPgBigint(digits: string): boolean {
  return /^[0-9]{1,19}$/.test(digits) && BigInt(digits) <= MAX_PG_BIGINT;
}
