import { describe, expect, it } from 'vitest';
import { capErrorName, capErrorString } from './error-codes.js';
import {
  deadLetterSubject,
  jobEventsSubject,
  jobSubject,
  queueGroupForJobSubject,
  Subjects,
  workerJobsSubject,
} from './subjects.js';

describe('subjects', () => {
  it('spells the CAP subjects', () => {
    expect(Subjects.jobSubmit).toBe('sys.job.submit');
    expect(Subjects.jobResult).toBe('sys.job.result');
    expect(Subjects.heartbeat).toBe('sys.heartbeat');
    expect(workerJobsSubject('w-1')).toBe('worker.w-1.jobs');
  });

  it('uses the topic itself as the job subject and its queue group', () => {
    expect(jobSubject('job.chat.simple')).toBe('job.chat.simple');
    expect(queueGroupForJobSubject('job.echo')).toBe('job.echo');
  });

  it('rejects topics that are not concrete job subjects', () => {
    for (const bad of ['echo', 'job.', 'job.*', 'job.>', 'job.a b', 'job..x', 'sys.job.submit']) {
      expect(() => jobSubject(bad), bad).toThrow(/expected a NATS subject starting with "job."/);
    }
  });

  it('builds capstan subjects and refuses tokens that would inject wildcards', () => {
    expect(deadLetterSubject('sys.job.submit')).toBe('capstan.dlq.sys.job.submit');
    expect(jobEventsSubject('acme', 'j-1')).toBe('capstan.events.job.acme.j-1');
    expect(() => jobEventsSubject('acme.*', 'j')).toThrow(/tenant/);
    expect(() => workerJobsSubject('a.>')).toThrow(/worker id/);
  });
});

describe('CAP error codes', () => {
  it('round-trips names and wire strings', () => {
    expect(capErrorString('SIGNATURE_INVALID')).toBe('103');
    expect(capErrorName('300')).toBe('SAFETY_DENIED');
    expect(capErrorName('4242')).toBe('APPLICATION');
    expect(capErrorName('nope')).toBeUndefined();
  });
});
