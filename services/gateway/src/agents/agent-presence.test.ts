import { describe, expect, it } from 'vitest';
import { createAgentPresence } from './agent-presence.js';

const beat = (workerId: string, activeJobs = 0, maxParallelJobs = 4) => ({
  workerId,
  pool: 'p',
  activeJobs,
  maxParallelJobs,
  cpuLoad: 0,
  capabilities: [],
});

describe('agent presence', () => {
  it('is online while beats are fresh, busy at capacity, offline after the TTL', () => {
    let now = 1000;
    const presence = createAgentPresence({ ttlMs: 100, now: () => now });
    expect(presence.availability('w1')).toBe('offline');
    presence.observe(beat('w1'));
    presence.observe(beat('w2', 4, 4));
    expect(presence.availability('w1')).toBe('online');
    expect(presence.availability('w2')).toBe('busy');
    expect(presence.liveWorkerIds().sort()).toEqual(['w1', 'w2']);
    expect(presence.busyWorkerIds()).toEqual(['w2']);
    now += 100;
    expect(presence.availability('w1')).toBe('offline');
    expect(presence.beat('w1')).toBeUndefined();
    expect(presence.sweep()).toBe(2);
  });

  it('counts open connections as presence until released', () => {
    const presence = createAgentPresence();
    const release1 = presence.connect('agent-a');
    const release2 = presence.connect('agent-a');
    expect(presence.availability('agent-a')).toBe('online');
    release1();
    release1();
    expect(presence.availability('agent-a')).toBe('online');
    release2();
    expect(presence.availability('agent-a')).toBe('offline');
  });

  it('stays bounded: beats from new workers beyond the cap are dropped while all entries are live', () => {
    const presence = createAgentPresence({ maxWorkers: 2 });
    presence.observe(beat('a'));
    presence.observe(beat('b'));
    presence.observe(beat('c'));
    expect(presence.liveWorkerIds().sort()).toEqual(['a', 'b']);
    presence.observe(beat('a', 1));
    expect(presence.beat('a')?.activeJobs).toBe(1);
  });
});
