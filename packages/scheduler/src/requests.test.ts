import { describe, expect, it } from 'vitest';
import { compensationJobId, dlqRetryJobId, MAX_JOB_ID_LENGTH } from './requests.js';

const VALID = new RegExp(`^[A-Za-z0-9_\\-:]{1,${MAX_JOB_ID_LENGTH}}$`);

describe('derived job ids', () => {
  it('append a suffix to ids short enough', () => {
    expect(compensationJobId('step-1')).toBe('step-1-compensation');
    expect(dlqRetryJobId('job-7', '42')).toBe('job-7-r42');
  });

  it('stay valid, deterministic and distinct for ids at the length limit', () => {
    const a = `${'a'.repeat(MAX_JOB_ID_LENGTH - 1)}1`;
    const b = `${'a'.repeat(MAX_JOB_ID_LENGTH - 1)}2`;
    for (const derive of [compensationJobId, (id: string) => dlqRetryJobId(id, '123456')]) {
      expect(derive(a)).toMatch(VALID);
      expect(derive(a)).toBe(derive(a));
      expect(derive(a)).not.toBe(derive(b));
    }
    expect(compensationJobId(a).endsWith('-compensation')).toBe(true);
  });
});
