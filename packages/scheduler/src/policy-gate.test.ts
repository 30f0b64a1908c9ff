import { create } from '@bufbuild/protobuf';
import { JobRequestSchema } from '@capstan/gen/cordum/agent/v1/job_pb';
import { PolicyConstraintsSchema } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { policyRequestHash } from '@capstan/protocol';
import { describe, expect, it } from 'vitest';
import type { JobRecord } from './job-record.js';
import { approvalMismatch, constraintsRecord, growingDelay, tenantConcurrencyLimit } from './policy-gate.js';
import { policyRequestFor } from './policy-port.js';
import type { ApprovalRecord } from './policy-store.js';

const job = {
  jobId: 'j1',
  tenant: 'acme',
  policySnapshot: 'snap-1',
  request: create(JobRequestSchema, { jobId: 'j1', topic: 'job.deploy', labels: { env: 'prod' } }),
} as JobRecord;

const approval = (o: Partial<ApprovalRecord> = {}): ApprovalRecord => ({
  approvalId: 'apr_1',
  jobId: 'j1',
  tenant: 'acme',
  requestHash: policyRequestHash(policyRequestFor(job.request, 'acme')),
  policySnapshot: 'snap-1',
  state: 'APPROVED',
  decidedBy: 'alice',
  decisionReason: 'ok',
  expiresAt: Date.now() + 60_000,
  ...o,
});

describe('policy gate helpers', () => {
  it('keeps constraints as protobuf JSON and reads the tenant concurrency limit from it', () => {
    const json = constraintsRecord(
      create(PolicyConstraintsSchema, {
        budgets: { maxConcurrentJobs: 3, maxRuntimeMs: 5000n },
        redactionLevel: 'pii',
      }),
    );
    expect(json).toEqual({ budgets: { maxRuntimeMs: '5000', maxConcurrentJobs: 3 }, redactionLevel: 'pii' });
    expect(tenantConcurrencyLimit(json)).toBe(3);
    expect(tenantConcurrencyLimit(constraintsRecord(create(PolicyConstraintsSchema, { budgets: {} })))).toBe(0);
    expect(tenantConcurrencyLimit(null)).toBe(0);
    expect(tenantConcurrencyLimit({ budgets: { maxConcurrentJobs: '2' } })).toBe(0);
  });

  it('accepts an approval only for the same job, request hash and snapshot, and the active snapshot', () => {
    expect(approvalMismatch(job, approval(), '')).toBeUndefined();
    expect(approvalMismatch(job, approval(), 'snap-1')).toBeUndefined();
    expect(approvalMismatch(job, approval({ jobId: 'j2' }), '')).toBe('the approval belongs to job j2');
    expect(approvalMismatch(job, approval({ requestHash: '0'.repeat(64) }), '')).toBe(
      'the approved request differs from the job (request hash mismatch)',
    );
    expect(approvalMismatch(job, approval({ policySnapshot: 'snap-0' }), '')).toBe(
      'the approval is for policy snapshot snap-0, the job was judged under snap-1',
    );
    expect(approvalMismatch(job, approval(), 'snap-2')).toBe(
      'policy snapshot snap-2 is active now, the approval was given under snap-1',
    );
  });

  it('grows a wait with its age, within bounds', () => {
    expect(growingDelay(1000, 1000, 100, 500)).toBe(100);
    expect(growingDelay(1000, 1300, 100, 500)).toBe(300);
    expect(growingDelay(1000, 9000, 100, 500)).toBe(500);
  });
});
