import { randomBytes } from 'node:crypto';
import { TestkitArgumentError } from './errors.js';

let counter = 0;

/**
 * Prefix rule: safe as a NATS subject token, a JetStream stream/consumer name, a Redis key part and an
 * (unquoted, lowercase-folded) PostgreSQL identifier.
 */
const PREFIX_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Returns `<prefix>_<pid>_<counter>_<random>` — unique across the parallel test workers of a run and across
 * runs against long-lived servers, so tests can share one NATS/Redis/Postgres without seeing each other's data.
 * @param prefix letters, digits and `_`, starting with a letter or `_` (e.g. `orders`).
 */
export function uniqueName(prefix: string): string {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new TestkitArgumentError(
      `uniqueName: invalid prefix ${JSON.stringify(prefix)}; expected letters, digits and "_", starting with a letter or "_"`,
    );
  }
  counter += 1;
  return `${prefix}_${process.pid.toString(36)}_${counter.toString(36)}_${randomBytes(3).toString('hex')}`;
}
