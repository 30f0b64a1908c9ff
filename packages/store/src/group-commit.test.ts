import { describe, expect, it } from 'vitest';
import { createGroupCommit } from './group-commit.js';

/** A flush that records its batches and resolves only when told to. */
function controlledFlush() {
  const batches: number[][] = [];
  const release: (() => void)[] = [];
  let failNext: Error | undefined;
  const flush = (items: number[]) => {
    batches.push(items);
    const err = failNext;
    failNext = undefined;
    return new Promise<number[]>((resolve, reject) => {
      release.push(() => (err ? reject(err) : resolve(items.map((i) => i * 10))));
    });
  };
  return {
    flush,
    batches,
    releaseOne: () => release.shift()?.(),
    failNextWith: (e: Error) => {
      failNext = e;
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('createGroupCommit', () => {
  it('starts a batch at once when idle, and gathers items submitted while it runs into the next one', async () => {
    const f = controlledFlush();
    const q = createGroupCommit({ flush: f.flush });
    const first = q.submit(1);
    await tick();
    expect(f.batches).toEqual([[1]]);
    const later = [q.submit(2), q.submit(3), q.submit(4)];
    await tick();
    expect(f.batches).toHaveLength(1); // nothing new starts while the first flush runs (maxConcurrent 1)
    expect(q.pending()).toBe(4);
    f.releaseOne();
    expect(await first).toBe(10);
    await tick();
    expect(f.batches[1]).toEqual([2, 3, 4]);
    f.releaseOne();
    expect(await Promise.all(later)).toEqual([20, 30, 40]);
    expect(q.pending()).toBe(0);
  });

  it('puts items submitted in the same tick into one batch', async () => {
    const f = controlledFlush();
    const q = createGroupCommit({ flush: f.flush });
    const all = [q.submit(1), q.submit(2), q.submit(3)];
    await tick();
    expect(f.batches).toEqual([[1, 2, 3]]);
    f.releaseOne();
    expect(await Promise.all(all)).toEqual([10, 20, 30]);
  });

  it('never exceeds maxBatch and runs up to maxConcurrent flushes at once', async () => {
    const f = controlledFlush();
    const q = createGroupCommit({ flush: f.flush, maxBatch: 2, maxConcurrent: 2 });
    const all = [1, 2, 3, 4, 5].map((i) => q.submit(i));
    await tick();
    expect(f.batches).toEqual([
      [1, 2],
      [3, 4],
    ]);
    f.releaseOne();
    await tick();
    expect(f.batches[2]).toEqual([5]);
    f.releaseOne();
    f.releaseOne();
    expect(await Promise.all(all)).toEqual([10, 20, 30, 40, 50]);
  });

  it('with concurrentAfter, starts a second flush only once that many items wait; fewer join the next batch', async () => {
    const f = controlledFlush();
    const q = createGroupCommit({ flush: f.flush, maxConcurrent: 2, concurrentAfter: 3 });
    const first = q.submit(1);
    await tick();
    expect(f.batches).toEqual([[1]]); // idle: starts at once, as without the option
    const waiting = [q.submit(2), q.submit(3)];
    await tick();
    expect(f.batches).toHaveLength(1); // two waiting < 3: no second flush beside the running one
    const more = [q.submit(4), q.submit(5)];
    await tick();
    expect(f.batches[1]).toEqual([2, 3, 4]); // the third waiting item started a concurrent flush
    expect(q.pending()).toBe(5);
    f.releaseOne();
    expect(await first).toBe(10);
    await tick();
    expect(f.batches).toHaveLength(2); // a slot is free, but [2, 3, 4] still runs and one item is below 3
    f.releaseOne();
    await tick();
    expect(f.batches[2]).toEqual([5]); // nothing running: it starts at once
    f.releaseOne();
    expect(await Promise.all([...waiting, ...more])).toEqual([20, 30, 40, 50]);
  });

  it('rejects every item of a failed batch and keeps serving the next ones', async () => {
    const f = controlledFlush();
    const q = createGroupCommit({ flush: f.flush });
    f.failNextWith(new Error('database down'));
    const failed = [q.submit(1), q.submit(2)];
    await tick();
    f.releaseOne();
    for (const p of failed) await expect(p).rejects.toThrow('database down');
    const ok = q.submit(3);
    await tick();
    f.releaseOne();
    expect(await ok).toBe(30);
  });

  it('drain() waits for queued and running batches', async () => {
    const f = controlledFlush();
    const q = createGroupCommit({ flush: f.flush });
    await q.drain(); // idle: resolves at once
    void q.submit(1);
    await tick();
    void q.submit(2);
    let drained = false;
    const d = q.drain().then(() => {
      drained = true;
    });
    f.releaseOne();
    await tick();
    expect(drained).toBe(false); // the second batch is still running
    f.releaseOne();
    await d;
    expect(drained).toBe(true);
  });
});
