import { describe, expect, it } from 'vitest';
import { BACKLOG_FULL_SHED_MS, backlogFullError, createSubmitLimiter } from './submit-admission.js';

describe('createSubmitLimiter', () => {
  it('hands out at most max slots; a release is idempotent', () => {
    const limiter = createSubmitLimiter(2);
    const a = limiter.tryAcquire();
    const b = limiter.tryAcquire();
    expect(limiter.tryAcquire()).toBeUndefined();
    a?.();
    a?.();
    expect(limiter.inFlight).toBe(1);
    expect(limiter.tryAcquire()).toBeDefined();
    b?.();
    expect(() => createSubmitLimiter(0)).toThrow(/expected a positive integer/);
  });

  it('sheds submits for a moment after the backlog was full, then lets them try again', () => {
    const limiter = createSubmitLimiter(4);
    expect(limiter.shedding(1000)).toBe(false);
    limiter.backlogFull(1000);
    expect(limiter.shedding(1000 + BACKLOG_FULL_SHED_MS - 1)).toBe(true);
    expect(limiter.shedding(1000 + BACKLOG_FULL_SHED_MS)).toBe(false);
  });

  it('words a shed refusal without a job id', () => {
    expect(backlogFullError(undefined).message).toMatch(/^The job was not accepted \(RESOURCE_EXHAUSTED\)/);
    expect(backlogFullError('j-1').message).toMatch(/^Job j-1 was not accepted/);
    expect(backlogFullError(undefined)).toMatchObject({ code: 1015, statusCode: 429 });
  });
});
