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

describe('agent presence announced by other gateway replicas', () => {
  it('counts remote connections as online until forgotten or expired, per replica', () => {
    let now = 1000;
    const presence = createAgentPresence({ ttlMs: 100, remoteTtlMs: 300, now: () => now });
    presence.observeRemote('replica-a', ['w1', 'w2']);
    presence.observeRemote('replica-b', ['w1']);
    expect(presence.availability('w1')).toBe('online');
    expect(presence.liveWorkerIds().sort()).toEqual(['w1', 'w2']);
    // A remote connection carries no load: capacity comes from heartbeats only.
    expect(presence.beat('w1')).toBeUndefined();
    presence.forgetRemote('replica-a', ['w1']);
    expect(presence.availability('w1')).toBe('online');
    presence.forgetRemote('replica-b');
    expect(presence.availability('w1')).toBe('offline');
    expect(presence.availability('w2')).toBe('online');
    now += 299;
    expect(presence.availability('w2')).toBe('online');
    presence.observeRemote('replica-a', ['w2']);
    now += 299;
    expect(presence.availability('w2')).toBe('online');
    now += 1;
    expect(presence.availability('w2')).toBe('offline');
    expect(presence.liveWorkerIds()).toEqual([]);
    expect(presence.sweep()).toBe(1);
  });

  it('reports only local connections, and tells listeners about first opens and last closes', () => {
    const presence = createAgentPresence();
    const changes: string[] = [];
    const stop = presence.onConnectionChange((id, connected) => changes.push(`${id}:${connected ? 'up' : 'down'}`));
    presence.onConnectionChange(() => {
      throw new Error('a failing listener must not break the session');
    });
    presence.observeRemote('replica-a', ['remote-only']);
    const r1 = presence.connect('a');
    const r2 = presence.connect('a');
    expect(presence.localConnectionIds()).toEqual(['a']);
    r1();
    r2();
    r2();
    expect(changes).toEqual(['a:up', 'a:down']);
    stop();
    presence.connect('b')();
    expect(changes).toEqual(['a:up', 'a:down']);
    expect(presence.localConnectionIds()).toEqual([]);
  });

  it('stays bounded: remote (worker, replica) pairs beyond the cap are dropped while all are live', () => {
    const presence = createAgentPresence({ maxWorkers: 2 });
    presence.observeRemote('r1', ['a', 'b', 'c']);
    presence.observeRemote('r2', ['a']);
    expect(presence.liveWorkerIds().sort()).toEqual(['a', 'b']);
    presence.forgetRemote('r1', ['b']);
    presence.observeRemote('r2', ['c']);
    expect(presence.liveWorkerIds().sort()).toEqual(['a', 'c']);
  });
});
