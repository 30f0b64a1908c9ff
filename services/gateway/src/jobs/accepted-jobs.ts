import type { Redis } from 'ioredis';

/** Redis key prefix of accepted-submit records (one per job, with a TTL). */
export const ACCEPTED_JOB_KEY_PREFIX = 'capstan:gw:accepted:';

/** What the gateway remembers about a submit it accepted, until the scheduler has recorded the job. */
export interface AcceptedJob {
  /** Organization (CAP tenant) of the job. */
  tenant: string;
  /** Job topic. */
  topic: string;
  /** Trace id of the submit. */
  traceId: string;
  /** SHA-256 of the canonical request, to tell an idempotent replay from a reused key. */
  requestHash: string;
  /** When the submit was accepted (ms since epoch). */
  acceptedAt: number;
}

/** Outcome of {@link AcceptedJobs.claim}. */
export type ClaimResult = { claimed: true } | { claimed: false; existing: AcceptedJob | undefined };

/** The accepted-submit records in Redis, shared by every gateway replica. */
export interface AcceptedJobs {
  /**
   * Records `job` under `jobId` unless a record exists already (`SET NX`): the first submit of an id claims it; a
   * later one with the same id (an idempotent retry) gets the existing record to compare with.
   */
  claim(jobId: string, job: AcceptedJob): Promise<ClaimResult>;
  /** The record of `jobId`, if any (and unexpired). */
  get(jobId: string): Promise<AcceptedJob | undefined>;
  /** Drops the record (the submit failed, so nothing was accepted). */
  forget(jobId: string): Promise<void>;
}

function decode(raw: string | null): AcceptedJob | undefined {
  if (raw === null) return undefined;
  try {
    const value = JSON.parse(raw) as Partial<AcceptedJob>;
    if (typeof value.tenant !== 'string' || typeof value.topic !== 'string') return undefined;
    return {
      tenant: value.tenant,
      topic: value.topic,
      traceId: String(value.traceId ?? ''),
      requestHash: String(value.requestHash ?? ''),
      acceptedAt: Number(value.acceptedAt ?? 0),
    };
  } catch {
    return undefined;
  }
}

/**
 * Creates the accepted-submit store. Records expire after `ttlMs`: by then the scheduler has long recorded the job
 * in Postgres, which answers every later question (state, idempotency key).
 */
export function createAcceptedJobs(redis: Redis, ttlMs: number): AcceptedJobs {
  const key = (jobId: string) => `${ACCEPTED_JOB_KEY_PREFIX}${jobId}`;
  return {
    async claim(jobId, job) {
      const set = await redis.set(key(jobId), JSON.stringify(job), 'PX', ttlMs, 'NX');
      if (set === 'OK') return { claimed: true };
      return { claimed: false, existing: decode(await redis.get(key(jobId))) };
    },
    async get(jobId) {
      return decode(await redis.get(key(jobId)));
    },
    async forget(jobId) {
      await redis.del(key(jobId));
    },
  };
}
