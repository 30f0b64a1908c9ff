import { describe, expect, it } from 'vitest';
import { createEarlyCancels } from './early-cancels.js';

describe('createEarlyCancels', () => {
  it('remembers a cancel for ttlMs, and a repeated cancel for ttlMs from the repeat', () => {
    let now = 1000;
    const cancels = createEarlyCancels(10, 100, () => now);
    cancels.add('a', 'first', 'client');
    expect(cancels.get('a')).toEqual({ reason: 'first', requestedBy: 'client', at: 1000 });
    expect(cancels.get('b')).toBeUndefined();
    now = 1099;
    expect(cancels.get('a')?.reason).toBe('first');
    cancels.add('a', 'second', 'client');
    now = 1150;
    expect(cancels.get('a')?.reason).toBe('second');
    now = 1198;
    expect(cancels.get('a')).toBeDefined();
    now = 1199;
    expect(cancels.get('a')).toBeUndefined();
    expect(cancels.size).toBe(0);
  });

  it('keeps at most max jobs, forgetting the oldest first', () => {
    const cancels = createEarlyCancels(3, 60_000, () => 0);
    for (const jobId of ['a', 'b', 'c', 'd']) cancels.add(jobId, 'r', '');
    expect(cancels.size).toBe(3);
    expect(['a', 'b', 'c', 'd'].map((jobId) => cancels.get(jobId) !== undefined)).toEqual([false, true, true, true]);
  });
});
