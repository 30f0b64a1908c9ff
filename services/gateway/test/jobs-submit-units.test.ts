import { describe, expect, it } from 'vitest';
import { IDEMPOTENT_JOB_ID_PREFIX, jobIdFor } from '../src/jobs/job-ids.js';
import { submitJobBodySchema } from '../src/jobs/job-schemas.js';
import { requestHash } from '../src/jobs/submit-job.js';

describe('job ids', () => {
  it('derives a stable id from tenant + Idempotency-Key, distinct per tenant and key', () => {
    const id = jobIdFor('org_a', 'order-1');
    expect(id).toBe(jobIdFor('org_a', 'order-1'));
    expect(id.startsWith(IDEMPOTENT_JOB_ID_PREFIX)).toBe(true);
    expect(id).toMatch(/^[A-Za-z0-9_:-]{1,128}$/);
    expect(jobIdFor('org_b', 'order-1')).not.toBe(id);
    expect(jobIdFor('org_a', 'order-2')).not.toBe(id);
    expect(jobIdFor('org_a', undefined)).not.toBe(jobIdFor('org_a', undefined));
  });
});

describe('request fingerprint', () => {
  it('ignores key order and sees every value', () => {
    const a = submitJobBodySchema.parse({ topic: 'job.x', input: { a: 1, b: [1, 2] }, labels: { x: '1', y: '2' } });
    const b = submitJobBodySchema.parse({ labels: { y: '2', x: '1' }, input: { b: [1, 2], a: 1 }, topic: 'job.x' });
    const c = submitJobBodySchema.parse({ topic: 'job.x', input: { a: 1, b: [2, 1] }, labels: { x: '1', y: '2' } });
    expect(requestHash(a)).toBe(requestHash(b));
    expect(requestHash(a)).not.toBe(requestHash(c));
  });
});
