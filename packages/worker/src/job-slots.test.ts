import { describe, expect, it } from 'vitest';
import { createDeliveryDedupe } from './delivery-dedupe.js';
import { ABSOLUTE_DEADLINE_THRESHOLD_MS, jobDeadline } from './job-deadline.js';
import { createJobSlots } from './job-slots.js';

describe('createJobSlots', () => {
  it('runs up to the concurrency, queues up to the queue size, refuses the rest, and hands slots to the queue in order', async () => {
    const slots = createJobSlots<string>(2, 2);
    expect(['a', 'b', 'c', 'd', 'e'].map((job) => slots.offer(job))).toEqual([
      'run',
      'run',
      'queued',
      'queued',
      'full',
    ]);
    expect([slots.running, slots.queued]).toEqual([2, 2]);
    expect(slots.release()).toBe('c');
    expect([slots.running, slots.queued]).toEqual([2, 1]);
    expect(slots.remove('d')).toBe(true);
    expect(slots.remove('d')).toBe(false);
    let idle = false;
    const idlePromise = slots.idle().then(() => {
      idle = true;
    });
    expect(slots.release()).toBeUndefined();
    await Promise.resolve();
    expect(idle).toBe(false);
    expect(slots.release()).toBeUndefined();
    await idlePromise;
    expect([slots.running, idle]).toEqual([0, true]);
  });

  it('empties the queue for a shutdown', () => {
    const slots = createJobSlots<number>(1, 3);
    for (const n of [1, 2, 3, 4]) slots.offer(n);
    expect(slots.drainQueue()).toEqual([2, 3, 4]);
    expect(slots.queued).toBe(0);
    expect(slots.release()).toBeUndefined();
  });
});

describe('createDeliveryDedupe', () => {
  it('takes each (job, epoch) once, forgets on request and evicts the oldest beyond its bound', () => {
    const dedupe = createDeliveryDedupe(2);
    expect(dedupe.take('j1', 1)).toBe(true);
    expect(dedupe.take('j1', 1)).toBe(false);
    expect(dedupe.take('j1', 2)).toBe(true);
    dedupe.forget('j1', 2);
    expect(dedupe.take('j1', 2)).toBe(true);
    expect(dedupe.take('j2', 1)).toBe(true); // evicts j1@1, the least recently used
    expect(dedupe.size).toBe(2);
    expect(dedupe.take('j1', 1)).toBe(true);
  });
});

describe('jobDeadline', () => {
  it('reads large values as absolute times, small ones as durations from receipt, and zero as none', () => {
    const absolute = ABSOLUTE_DEADLINE_THRESHOLD_MS + 5000;
    expect(jobDeadline(BigInt(absolute), 123)).toBe(absolute);
    expect(jobDeadline(30_000n, 1_000)).toBe(31_000);
    expect(jobDeadline(0n, 1_000)).toBeUndefined();
    expect(jobDeadline(-5, 1_000)).toBeUndefined();
  });
});
