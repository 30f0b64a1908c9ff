import { createHash } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { type PolicyCheckRequest, PolicyCheckRequestSchema } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { toDeterministicBinary } from './deterministic.js';

/** Options of {@link policyRequestHash}. */
export interface PolicyRequestHashOptions {
  /**
   * Leave `job_id` out, so equal requests of different jobs hash alike (decision caches). Approvals keep it:
   * an approval covers one job.
   * @default false
   */
  ignoreJobId?: boolean;
}

/**
 * sha256 (hex) of a PolicyCheckRequest's deterministic encoding. The safety kernel binds approvals to it and the
 * scheduler recomputes it from the job it holds, so both sides must hash the same bytes: map order is fixed by
 * the deterministic encoder, so the hash is independent of how the request was built.
 */
export function policyRequestHash(request: PolicyCheckRequest, options: PolicyRequestHashOptions = {}): string {
  const subject =
    options.ignoreJobId && request.jobId ? create(PolicyCheckRequestSchema, { ...request, jobId: '' }) : request;
  return createHash('sha256').update(toDeterministicBinary(PolicyCheckRequestSchema, subject)).digest('hex');
}
