import { createHash } from 'node:crypto';
import { newJobId } from '@capstan/protocol';

/** Prefix of job ids derived from an `Idempotency-Key`. */
export const IDEMPOTENT_JOB_ID_PREFIX = 'idem-';

/**
 * Id of the job a `POST /v1/jobs` creates: a fresh UUID, or — with an `Idempotency-Key` — a hash of the tenant and
 * the key. Deriving the id makes every layer idempotent at once: concurrent or retried submits with the same key
 * carry the same id, so the JetStream stream dedupes them (`msgId` = job id), the scheduler finds the row already
 * there, and the input pointer `redis://ctx:<job_id>` is the same. The tenant is part of the hash, so two
 * organizations using the same key never collide and an id reveals nothing about the key.
 */
export function jobIdFor(tenant: string, idempotencyKey: string | undefined): string {
  if (idempotencyKey === undefined) return newJobId();
  const digest = createHash('sha256').update(tenant).update('\u0000').update(idempotencyKey).digest('hex');
  return `${IDEMPOTENT_JOB_ID_PREFIX}${digest.slice(0, 40)}`;
}
