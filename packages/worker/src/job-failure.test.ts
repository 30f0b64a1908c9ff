import { JobStatus } from '@capstan/gen/cordum/agent/v1/job_pb';
import { PointerError } from '@capstan/pointers';
import { describe, expect, it } from 'vitest';
import { JobCancelledError, JobDeadlineExceededError, WorkerShutdownError } from './abort-reasons.js';
import { JobFailure, wireErrorCode } from './job-failure.js';
import {
  handBack,
  MAX_ERROR_MESSAGE_LENGTH,
  outcomeFromAbort,
  outcomeFromHandlerError,
  outcomeFromInputError,
  outcomeFromResultError,
} from './job-outcome.js';

describe('JobFailure', () => {
  it('builds retryable and fatal failures with a wire code, details and cause', () => {
    const cause = new Error('503 from upstream');
    const retryable = JobFailure.retryable('upstream busy', { code: 1042, details: { retryAfter: 5 }, cause });
    expect(retryable).toBeInstanceOf(Error);
    expect(retryable).toMatchObject({
      name: 'JobFailure',
      message: 'upstream busy',
      nonRetryable: false,
      code: '1042',
      details: { retryAfter: 5 },
    });
    expect(retryable.cause).toBe(cause);
    const fatal = JobFailure.fatal('no such account');
    expect(fatal).toMatchObject({ nonRetryable: true, code: '' });
    expect(new JobFailure('plain')).toMatchObject({ nonRetryable: false });
  });

  it('accepts CAP code names, CAP codes and application codes, and refuses anything else', () => {
    expect(wireErrorCode('INVALID_INPUT')).toBe('203');
    expect(wireErrorCode('203')).toBe('203');
    expect(wireErrorCode(200)).toBe('200');
    expect(wireErrorCode('9999')).toBe('9999');
    for (const bad of ['NOPE', '999', 10_000, '12a', '', -1, 'toString']) {
      expect(() => wireErrorCode(bad)).toThrow(/invalid job failure code .*: expected a CAP error code name/);
    }
    expect(() => JobFailure.fatal('x', { code: 'RATE_LIMITED' })).toThrow(TypeError);
  });
});

describe('job outcomes', () => {
  it('maps handler errors: fatal JobFailure → FAILED_FATAL; retryable JobFailure and anything else → FAILED_RETRYABLE', () => {
    expect(outcomeFromHandlerError(JobFailure.fatal('bad card', { code: 'INVALID_INPUT' }))).toEqual({
      status: JobStatus.FAILED_FATAL,
      errorCode: '203',
      errorMessage: 'bad card',
    });
    expect(outcomeFromHandlerError(JobFailure.retryable('later'))).toEqual({
      status: JobStatus.FAILED_RETRYABLE,
      errorCode: '',
      errorMessage: 'later',
    });
    expect(outcomeFromHandlerError(new TypeError('x is undefined'))).toMatchObject({
      status: JobStatus.FAILED_RETRYABLE,
      errorMessage: 'x is undefined',
    });
    expect(outcomeFromHandlerError('a string')).toMatchObject({ errorMessage: 'a string' });
    expect(outcomeFromHandlerError({ odd: true })).toMatchObject({
      errorMessage: 'non-Error value thrown: {"odd":true}',
    });
    const long = outcomeFromHandlerError(new Error('x'.repeat(10_000)));
    expect(long.errorMessage).toHaveLength(MAX_ERROR_MESSAGE_LENGTH);
  });

  it('maps abort reasons to CANCELLED, TIMEOUT "200" and a "402" hand-back', () => {
    expect(outcomeFromAbort(new JobCancelledError('stop', 'bob'))).toEqual({
      status: JobStatus.CANCELLED,
      errorCode: '',
      errorMessage: 'job cancelled: stop',
    });
    expect(outcomeFromAbort(new JobDeadlineExceededError(0))).toMatchObject({
      status: JobStatus.TIMEOUT,
      errorCode: '200',
    });
    expect(outcomeFromAbort(new WorkerShutdownError())).toMatchObject({
      status: JobStatus.FAILED_RETRYABLE,
      errorCode: '402',
    });
    expect(handBack('RESOURCE_EXHAUSTED', 'full')).toEqual({
      status: JobStatus.FAILED_RETRYABLE,
      errorCode: '201',
      errorMessage: 'full',
    });
  });

  it('treats unreadable inputs as fatal "203" and unreachable stores as retryable', () => {
    const missing = outcomeFromInputError(new PointerError('NOT_FOUND', 'nothing at redis://ctx:1'), 'redis://ctx:1');
    expect(missing).toEqual({
      status: JobStatus.FAILED_FATAL,
      errorCode: '203',
      errorMessage: 'cannot read the job input at redis://ctx:1: nothing at redis://ctx:1',
    });
    expect(outcomeFromInputError(new PointerError('BACKEND_UNAVAILABLE', 'redis down'), 'redis://ctx:1')).toMatchObject(
      {
        status: JobStatus.FAILED_RETRYABLE,
        errorCode: '',
      },
    );
    expect(outcomeFromResultError(new PointerError('TOO_LARGE', 'too big'), 'redis://res:1').status).toBe(
      JobStatus.FAILED_FATAL,
    );
    expect(outcomeFromResultError(new PointerError('BACKEND_UNAVAILABLE', 'down'), 'redis://res:1').status).toBe(
      JobStatus.FAILED_RETRYABLE,
    );
  });
});
