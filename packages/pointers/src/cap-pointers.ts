import { formatPointer } from './parse-pointer.js';
import { PointerError } from './pointer-errors.js';

/**
 * CAP/Cordum pointer conventions. These are the only place the `ctx:` / `res:` / `art:` formats are spelled: CAP SDK
 * workers GET `ctx:<job_id>` and SET `res:<job_id>` in Redis, and the pointer is `redis://` + that key.
 */

/** Redis key prefix of a job's input context. */
export const CAP_CONTEXT_KEY_PREFIX = 'ctx:';
/** Redis key prefix of a job's result. */
export const CAP_RESULT_KEY_PREFIX = 'res:';
/** Redis key prefix of an artifact. */
export const CAP_ARTIFACT_KEY_PREFIX = 'art:';

/** Pointer to a job's input context: `redis://ctx:<jobId>`. */
export function contextPointer(jobId: string): string {
  return redisPointer(CAP_CONTEXT_KEY_PREFIX, jobId, 'job id');
}

/** Pointer to a job's result: `redis://res:<jobId>`. */
export function resultPointer(jobId: string): string {
  return redisPointer(CAP_RESULT_KEY_PREFIX, jobId, 'job id');
}

/** Pointer to an artifact: `redis://art:<id>`. */
export function artifactPointer(id: string): string {
  return redisPointer(CAP_ARTIFACT_KEY_PREFIX, id, 'artifact id');
}

function redisPointer(prefix: string, id: string, what: string): string {
  if (typeof id !== 'string' || id === '') {
    throw new PointerError('INVALID_POINTER', `${what} must be a non-empty string; got ${JSON.stringify(id)}`);
  }
  return formatPointer({ scheme: 'redis', key: `${prefix}${id}` });
}
