import { create } from '@bufbuild/protobuf';
import { HandshakeSchema } from '@capstan/gen/cordum/agent/v1/handshake_pb';
import { HeartbeatSchema } from '@capstan/gen/cordum/agent/v1/heartbeat_pb';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';
import { createRoutingTable } from './routing-table.js';
import { isOverloaded, selectWorker } from './select-worker.js';
import { createWorkerRegistry, HANDSHAKE_RETENTION_MS, type WorkerInfo } from './worker-registry.js';

function worker(id: string, over: Partial<WorkerInfo> = {}): WorkerInfo {
  return {
    workerId: id,
    pool: 'echo',
    region: '',
    type: '',
    activeJobs: 0,
    maxParallelJobs: 10,
    cpuLoad: 10,
    memoryLoad: 10,
    labels: {},
    capabilities: [],
    readyTopics: [],
    directDispatch: false,
    progressPct: 0,
    lastMemo: '',
    firstSeenMs: 0,
    lastSeenMs: 0,
    intervalMs: 0,
    reserved: 0,
    reportedActiveJobs: 0,
    ...over,
  };
}

const table = createRoutingTable({
  pools: { gpu: { requires: ['cuda', 'fp16'] } },
  topics: {
    'job.echo': { pool: 'echo', maxRetries: 5 },
    'job.ml.*': { pool: 'gpu' },
    'job.batch.>': { pool: 'batch', runningTimeoutMs: 1000 },
  },
  defaults: { maxRetries: 2, dispatchTimeoutMs: 5000, runningTimeoutMs: 60_000 },
});
const job = (topic: string, over: Partial<Parameters<typeof selectWorker>[0]> = {}) => ({
  topic,
  labels: {},
  requires: [],
  ...over,
});

describe('routing table', () => {
  it('resolves exact, single-token and multi-token wildcard topics, and defaults', () => {
    expect(table.route('job.echo')).toMatchObject({ pool: 'echo', maxRetries: 5, dispatchTimeoutMs: 5000 });
    expect(table.route('job.ml.train')).toMatchObject({ pool: 'gpu', poolRequires: ['cuda', 'fp16'] });
    expect(table.route('job.ml.train.big').pool).toBe('job.ml.train.big'); // `*` is one token
    expect(table.route('job.batch.a.b')).toMatchObject({ pool: 'batch', runningTimeoutMs: 1000 });
    expect(table.route('job.other')).toMatchObject({ pool: 'job.other', maxRetries: 2, poolRequires: undefined });
  });
});

describe('selectWorker', () => {
  const route = table.route('job.echo');

  it('picks the least-loaded worker', () => {
    const d = selectWorker(job('job.echo'), route, [
      worker('a', { activeJobs: 5 }),
      worker('b', { activeJobs: 1 }),
      worker('c', { activeJobs: 3 }),
    ]);
    expect(d).toMatchObject({ kind: 'worker', worker: { workerId: 'b' } });
  });

  it('counts reservations made since the last heartbeat', () => {
    const d = selectWorker(job('job.echo'), route, [
      worker('a', { activeJobs: 1 }),
      worker('b', { activeJobs: 0, reserved: 4 }),
    ]);
    expect(d).toMatchObject({ worker: { workerId: 'a' } });
  });

  it('skips overloaded workers (≥ 90 % slots or ≥ 90 % cpu) and waits when all are', () => {
    expect(isOverloaded(worker('x', { activeJobs: 9 }))).toBe(true);
    expect(isOverloaded(worker('x', { cpuLoad: 95 }))).toBe(true);
    expect(isOverloaded(worker('x', { activeJobs: 8 }))).toBe(false);
    const d = selectWorker(job('job.echo'), route, [
      worker('a', { activeJobs: 9 }),
      worker('b', { cpuLoad: 91 }),
      worker('c', { activeJobs: 5 }),
    ]);
    expect(d).toMatchObject({ worker: { workerId: 'c' } });
    expect(selectWorker(job('job.echo'), route, [worker('a', { activeJobs: 10 })])).toEqual({
      kind: 'wait',
      reason: 'all_overloaded',
    });
  });

  it('waits when no worker serves the pool', () => {
    expect(selectWorker(job('job.echo'), route, [worker('a', { pool: 'other' })])).toEqual({
      kind: 'wait',
      reason: 'no_workers',
    });
    expect(selectWorker(job('job.echo'), route, [])).toEqual({ kind: 'wait', reason: 'no_workers' });
  });

  it('accepts workers by handshake ready_topics or a pool named after the topic', () => {
    const other = table.route('job.other');
    expect(
      selectWorker(job('job.other'), other, [worker('a', { pool: 'x', readyTopics: ['job.other'] })]),
    ).toMatchObject({ kind: 'worker' });
    expect(selectWorker(job('job.other'), other, [worker('a', { pool: 'job.other' })])).toMatchObject({
      kind: 'worker',
    });
  });

  it('honours placement labels', () => {
    const ws = [worker('eu', { labels: { region: 'eu' }, activeJobs: 5 }), worker('us', { labels: { region: 'us' } })];
    expect(selectWorker(job('job.echo', { labels: { 'placement.region': 'eu' } }), route, ws)).toMatchObject({
      worker: { workerId: 'eu' },
    });
    expect(selectWorker(job('job.echo', { labels: { 'placement.region': 'ap' } }), route, ws)).toEqual({
      kind: 'wait',
      reason: 'no_placement_match',
    });
  });

  it('prefers preferred_worker_id when it qualifies', () => {
    const ws = [worker('a'), worker('b', { activeJobs: 5 })];
    expect(selectWorker(job('job.echo', { preferredWorkerId: 'b' }), route, ws)).toMatchObject({
      worker: { workerId: 'b' },
    });
    expect(selectWorker(job('job.echo', { labels: { preferred_worker_id: 'b' } }), route, ws)).toMatchObject({
      worker: { workerId: 'b' },
    });
    expect(selectWorker(job('job.echo', { preferredWorkerId: 'gone' }), route, ws)).toMatchObject({
      worker: { workerId: 'a' },
    });
  });

  it('dispatches directly only to workers that advertised it', () => {
    expect(selectWorker(job('job.echo'), route, [worker('a', { directDispatch: true })])).toMatchObject({
      direct: true,
    });
    expect(selectWorker(job('job.echo'), route, [worker('a')])).toMatchObject({ direct: false });
  });

  it('refuses jobs whose requires the pool does not cover', () => {
    const ml = table.route('job.ml.train');
    const ws = [worker('g', { pool: 'gpu' })];
    expect(selectWorker(job('job.ml.train', { requires: ['cuda'] }), ml, ws)).toMatchObject({ kind: 'worker' });
    expect(selectWorker(job('job.ml.train', { requires: ['cuda', 'tpu'] }), ml, ws)).toEqual({
      kind: 'unroutable',
      reason: 'pool gpu does not provide required capabilities: tpu',
    });
  });
});

describe('worker registry', () => {
  it('learns workers from heartbeats and expires them after ~3 missed beats', () => {
    const reg = createWorkerRegistry();
    const hb = (id: string) =>
      create(HeartbeatSchema, { workerId: id, pool: 'echo', maxParallelJobs: 4, activeJobs: 1 });
    reg.observeHeartbeat(hb('w1'), 0);
    reg.observeHeartbeat(hb('w1'), 1000);
    reg.observeHeartbeat(hb('w1'), 2000);
    expect(reg.get('w1')?.intervalMs).toBe(1000);
    expect(reg.isLive('w1', 4999)).toBe(true); // 3 × 1 s, but never below 3 s
    expect(reg.isLive('w1', 5001)).toBe(false);
    expect(reg.expire(5001).map((w) => w.workerId)).toEqual(['w1']);
    expect(reg.size()).toBe(0);
  });

  it('uses the conservative expiry until the interval is known', () => {
    const reg = createWorkerRegistry({ maxExpiryMs: 15_000 });
    reg.observeHeartbeat(create(HeartbeatSchema, { workerId: 'w' }), 0);
    expect(reg.isLive('w', 14_000)).toBe(true);
    expect(reg.isLive('w', 15_001)).toBe(false);
  });

  it('takes direct dispatch and ready topics from the handshake, before or after the first beat', () => {
    const reg = createWorkerRegistry();
    reg.observeHandshake(
      create(HandshakeSchema, { componentId: 'w', capabilities: { direct_dispatch: true }, readyTopics: ['job.echo'] }),
      0,
    );
    reg.observeHeartbeat(create(HeartbeatSchema, { workerId: 'w' }), 1);
    expect(reg.get('w')).toMatchObject({ directDispatch: true, readyTopics: ['job.echo'] });
    reg.observeHandshake(create(HandshakeSchema, { componentId: 'w', capabilities: {} }), 2);
    expect(reg.get('w')?.directDispatch).toBe(false);
  });

  it("remembers a quiet worker's handshake for a while, then forgets it (ids of autoscaled workers do not pile up)", () => {
    const reg = createWorkerRegistry({ maxExpiryMs: 15_000 });
    const direct = create(HandshakeSchema, { componentId: 'w', capabilities: { direct_dispatch: true } });
    reg.observeHandshake(direct, 0);
    reg.observeHeartbeat(create(HeartbeatSchema, { workerId: 'w' }), 0);
    expect(reg.expire(20_000).map((w) => w.workerId)).toEqual(['w']);
    // Back within the retention: direct dispatch without a new handshake.
    reg.observeHeartbeat(create(HeartbeatSchema, { workerId: 'w' }), 21_000);
    expect(reg.get('w')?.directDispatch).toBe(true);
    reg.expire(40_000);
    reg.expire(40_000 + HANDSHAKE_RETENTION_MS);
    reg.observeHeartbeat(create(HeartbeatSchema, { workerId: 'w' }), 41_000 + HANDSHAKE_RETENTION_MS);
    expect(reg.get('w')?.directDispatch).toBe(false);
    // A handshake with no heartbeat ever is dropped the same way.
    reg.observeHandshake(create(HandshakeSchema, { componentId: 'x', capabilities: { direct_dispatch: true } }), 0);
    reg.expire(HANDSHAKE_RETENTION_MS + 1);
    reg.observeHeartbeat(create(HeartbeatSchema, { workerId: 'x' }), HANDSHAKE_RETENTION_MS + 2);
    expect(reg.get('x')?.directDispatch).toBe(false);
  });

  it('frees a slot when a job of the worker finishes between heartbeats', () => {
    const reg = createWorkerRegistry();
    reg.observeHeartbeat(create(HeartbeatSchema, { workerId: 'w', activeJobs: 1 }), 0);
    reg.reserve('w', 'j1', 10);
    reg.release('w', 'j1'); // its own reservation
    expect(reg.get('w')).toMatchObject({ reserved: 0, activeJobs: 1 });
    reg.release('w'); // a job the heartbeat reported
    reg.release('w');
    expect(reg.get('w')).toMatchObject({ reserved: 0, activeJobs: 0 });
  });

  it('hands reservations over to a heartbeat that can have counted them', () => {
    const reg = createWorkerRegistry();
    reg.observeHeartbeat(create(HeartbeatSchema, { workerId: 'w' }), 0);
    reg.reserve('w', 'j1', 0);
    reg.reserve('w', 'j2', 0);
    expect(reg.get('w')?.reserved).toBe(2);
    reg.observeHeartbeat(create(HeartbeatSchema, { workerId: 'w', activeJobs: 2 }), 100);
    expect(reg.get('w')).toMatchObject({ reserved: 0, activeJobs: 2 });
    // Their results now free the slots the heartbeat reported.
    reg.release('w', 'j1');
    expect(reg.get('w')).toMatchObject({ reserved: 0, activeJobs: 1 });
  });

  it('keeps counting jobs sent just before a heartbeat, which cannot be in its active_jobs yet', () => {
    const reg = createWorkerRegistry({ reservationCoverMs: 100 });
    reg.observeHeartbeat(create(HeartbeatSchema, { workerId: 'w', maxParallelJobs: 4 }), 0);
    for (const id of ['j1', 'j2', 'j3', 'j4']) reg.reserve('w', id, 950);
    // A beat sent while the four were on the wire says 0 active: the worker must not look idle.
    reg.observeHeartbeat(create(HeartbeatSchema, { workerId: 'w', maxParallelJobs: 4, activeJobs: 0 }), 1000);
    expect(reg.get('w')).toMatchObject({ reserved: 4, activeJobs: 0 });
    expect(isOverloaded(reg.get('w')!)).toBe(true);
    reg.release('w', 'j1');
    expect(reg.get('w')?.reserved).toBe(3);
    // The next beat counts the other three as active.
    reg.observeHeartbeat(create(HeartbeatSchema, { workerId: 'w', maxParallelJobs: 4, activeJobs: 3 }), 2000);
    expect(reg.get('w')).toMatchObject({ reserved: 0, activeJobs: 3 });
  });

  it('forgets the reservations of a worker that expired', () => {
    const reg = createWorkerRegistry();
    reg.observeHeartbeat(create(HeartbeatSchema, { workerId: 'w' }), 0);
    reg.reserve('w', 'j1', 0);
    expect(reg.expire(60_000).map((w) => w.workerId)).toEqual(['w']);
    reg.observeHeartbeat(create(HeartbeatSchema, { workerId: 'w' }), 60_001);
    expect(reg.get('w')?.reserved).toBe(0);
  });
});

describe('backoffDelay', () => {
  it('grows exponentially up to the cap, with bounded jitter', () => {
    expect(backoffDelay(1, { baseMs: 100, jitter: 0 })).toBe(100);
    expect(backoffDelay(4, { baseMs: 100, jitter: 0 })).toBe(800);
    expect(backoffDelay(20, { baseMs: 100, maxMs: 5000, jitter: 0 })).toBe(5000);
    expect(backoffDelay(3, { baseMs: 100, jitter: 0.5 }, () => 0)).toBe(200);
    expect(backoffDelay(3, { baseMs: 100, jitter: 0.5 }, () => 1)).toBe(400);
  });
});
