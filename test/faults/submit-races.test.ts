/**
 * Client races under a steady background load, on two scheduler replicas (the deployable) sharing the work and two
 * SDK worker processes:
 * - fault 8: 100 concurrent submits with one idempotency key → exactly one job, run once; every other submit gets a
 *   DUPLICATE event naming it (and 100 concurrent submits of one job id → one job);
 * - fault 9: cancels racing completion → every job ends in exactly one terminal state, SUCCEEDED or CANCELLED;
 * - fault 4b: no fault at all, just two replicas: jobs whose first attempt fails retryably are re-dispatched, and the
 *   second attempt's result must be accepted whichever replica it reaches (a regression test for the stale replica
 *   cache found by fault 4, see docs/faults.md).
 */
import { describe, expect, it } from 'vitest';
import { reportFault } from './support/fault-report.js';
import { sleep, useFaultStack } from './support/fault-test-hooks.js';
import { TERMINAL_STATES } from './support/history.js';
import { readSideEffects } from './support/side-effects.js';

const stack = useFaultStack({ name: 'submit-races' }, async (s) => {
  await Promise.all([
    s.startScheduler('scheduler-a'),
    s.startScheduler('scheduler-b'),
    s.startWorker('worker-1'),
    s.startWorker('worker-2'),
  ]);
});

describe('client races', { timeout: 60_000 }, () => {
  it('fault 8: 100 concurrent submits with one idempotency key → exactly one job', async ({ task }) => {
    const s = stack();
    const since = Date.now();
    s.startLoad({ ratePerSec: 40 });
    await sleep(500);
    const keys = ['key-a', 'key-b', 'key-c'];
    // Distinct job ids per submit (a client retrying with a new id each time): only the key ties them together.
    const byKey = await Promise.all(
      keys.map((key) =>
        Promise.all(
          Array.from({ length: 100 }, () => s.submitter.submit({ input: { sleepMs: 20 }, idempotencyKey: key })),
        ),
      ),
    );
    // One job id submitted 100 times at once (a client retrying the same submit): JetStream and the scheduler dedupe.
    const sameId = await Promise.all(
      Array.from({ length: 100 }, () => s.submitter.submit({ jobId: 'submit-races-same-id', input: { sleepMs: 20 } })),
    );
    const verdict = await s.check(15_000, { since });
    const rows = await s.store.db
      .selectFrom('jobs')
      .select(['job_id', 'idempotency_key', 'state'])
      .where('idempotency_key', 'in', keys)
      .execute();
    const effects = (await readSideEffects(s.runDir)).filter((e) => e.phase === 'effect');
    const duplicateEvents = s.recorder.history.events.filter((e) => e.kind === 'DUPLICATE');
    const holders = keys.map((key) => rows.find((r) => r.idempotency_key === key));
    const sameIdRows = await s.store.db
      .selectFrom('job_events')
      .select('to_state')
      .where('job_id', '=', 'submit-races-same-id')
      .orderBy('seq')
      .execute();

    reportFault(task, {
      fault: '8 duplicate submission (one idempotency key)',
      injected: [
        `${keys.length} keys × 100 concurrent submits with distinct job ids, over 2 scheduler replicas`,
        '100 concurrent submits of one job id',
      ],
      verified: [
        `jobs per key: ${keys.map((k) => rows.filter((r) => r.idempotency_key === k).length).join(', ')}; executions per key: ${holders.map((h) => effects.filter((e) => e.jobId === h?.job_id).length).join(', ')}`,
        `DUPLICATE events: ${duplicateEvents.length}; same-id job transitions: ${sameIdRows.map((r) => r.to_state).join(' → ')}`,
      ],
      verdict,
    });
    for (const submits of byKey) expect(submits.every((r) => r.ackedAt !== undefined)).toBe(true);
    expect(sameId.every((r) => r.ackedAt !== undefined)).toBe(true);
    for (const [i, key] of keys.entries()) {
      expect(rows.filter((r) => r.idempotency_key === key)).toHaveLength(1);
      const holder = holders[i]!;
      expect(holder.state).toBe('SUCCEEDED');
      expect(effects.filter((e) => e.jobId === holder.job_id)).toHaveLength(1);
      // Every other submit of the key was told which job holds it.
      const others = byKey[i]!.map((r) => r.jobId).filter((id) => id !== holder.job_id);
      for (const id of others)
        expect(duplicateEvents.find((e) => e.jobId === id)?.duplicateOf, `DUPLICATE event of ${id}`).toBe(
          holder.job_id,
        );
    }
    // One job, accepted once and run once (a direct dispatch that finishes within 50 ms skips RUNNING).
    expect(sameIdRows.map((r) => r.to_state).filter((st) => st !== 'RUNNING')).toEqual([
      'PENDING',
      'SCHEDULED',
      'DISPATCHED',
      'SUCCEEDED',
    ]);
    expect(effects.filter((e) => e.jobId === 'submit-races-same-id')).toHaveLength(1);
    expect(verdict.violations).toEqual([]);
  });

  it('fault 9: cancel racing completion → exactly one terminal state per job', async ({ task }) => {
    const s = stack();
    const since = Date.now();
    s.startLoad({ ratePerSec: 40 });
    await sleep(500);
    // Jobs of 0–60 ms of work; half of them cancelled 0–90 ms after the submit was acknowledged, half 150–350 ms
    // after: some cancels land while the job waits (at the scheduler, or at a worker before the dispatch does, which
    // then answers the job CANCELLED unrun), some while it runs, some as (or after) it finishes.
    const raced = await Promise.all(
      Array.from({ length: 120 }, async (_, i) => {
        const r = await s.submitter.submit({ input: { sleepMs: (i * 7) % 61 }, expect: ['SUCCEEDED', 'CANCELLED'] });
        await sleep(i % 2 === 0 ? (i * 13) % 91 : 150 + ((i * 13) % 201));
        await s.client.cancel(r.jobId, 'fault 9: cancel racing completion');
        return r.jobId;
      }),
    );
    const verdict = await s.check(15_000, { since });
    const terminal = await s.store.db
      .selectFrom('job_events')
      .select(['job_id', 'to_state'])
      .where('job_id', 'in', raced)
      .where('to_state', 'in', [...TERMINAL_STATES])
      .execute();
    const outcome = (state: string) => terminal.filter((t) => t.to_state === state).length;
    const seen = s.recorder.history.events.filter(
      (e) => raced.includes(e.jobId) && e.kind === 'TRANSITION' && TERMINAL_STATES.includes(e.state),
    );

    reportFault(task, {
      fault: '9 cancel racing completion',
      injected: [
        '120 jobs of 0–60 ms, cancelled 0–90 ms (half) or 150–350 ms (half) after the ack, over 2 scheduler replicas',
      ],
      verified: [
        `outcomes: SUCCEEDED ${outcome('SUCCEEDED')}, CANCELLED ${outcome('CANCELLED')}; terminal transitions ${terminal.length}; terminal events seen by clients ${seen.length}`,
      ],
      verdict,
    });
    expect(terminal).toHaveLength(raced.length);
    expect(new Set(terminal.map((t) => t.job_id)).size).toBe(raced.length);
    expect(outcome('SUCCEEDED') + outcome('CANCELLED')).toBe(raced.length);
    // Both sides of the race happened.
    expect(outcome('SUCCEEDED')).toBeGreaterThan(0);
    expect(outcome('CANCELLED')).toBeGreaterThan(0);
    expect(seen).toHaveLength(raced.length);
    expect(verdict.violations).toEqual([]);
  });

  it("fault 4b: two replicas, a retried job's result is accepted whichever replica receives it (stale replica cache)", async ({
    task,
  }) => {
    const s = stack();
    const since = Date.now();
    // Each job fails its first attempt retryably: one replica may take the failure and dispatch attempt 2 while the
    // other still holds attempt 1 in memory — and then receives attempt 2's result.
    const jobs = await Promise.all(
      Array.from({ length: 40 }, () => s.submitter.submit({ input: { sleepMs: 5, fail: 'retryable-once' } })),
    );
    const verdict = await s.check(15_000, { since });
    const refused = s.recorder.history.refusals.filter((r) => r.at >= since);
    reportFault(task, {
      fault: '4b two replicas, retried jobs (stale replica cache)',
      injected: ['nothing: 40 jobs that fail their first attempt retryably, over 2 scheduler replicas'],
      verified: [
        `results refused: ${refused.length}${refused[0] ? ` (e.g. ${refused[0].jobId}: "${refused[0].reason}")` : ''}`,
      ],
      verdict,
    });
    expect(jobs.every((r) => r.ackedAt !== undefined)).toBe(true);
    expect(refused).toEqual([]);
    expect(verdict.violations).toEqual([]);
  });
});
