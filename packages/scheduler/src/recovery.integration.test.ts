import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { decodeDeadLetter } from '@capstan/bus';
import {
  RetryDeadLetterRequestSchema,
  RetryDeadLetterResponseSchema,
} from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import {
  CompensationSchema,
  JobCancelSchema,
  JobProgressSchema,
  JobRequestSchema,
  JobResultSchema,
  JobStatus,
} from '@capstan/gen/cordum/agent/v1/job_pb';
import { CapstanSubjects, Subjects } from '@capstan/protocol';
import { uniqueName } from '@capstan/testkit';
import { describe, expect, it } from 'vitest';
import { useStack } from './test-support/stack.js';

const stack = useStack();

const topic = () => `job.${uniqueName('t')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Publishes a JobCancel on sys.job.cancel, as a CAP client does. */
function cancelJob(cancel: { jobId: string; reason?: string; requestedBy?: string }) {
  stack().client.publish(
    Subjects.jobCancel,
    stack().client.packet({ case: 'jobCancel', value: create(JobCancelSchema, cancel) }),
  );
}

function deadLetters(subject: string) {
  const list: ReturnType<typeof decodeDeadLetter>[] = [];
  const sub = stack().client.nc.subscribe(`capstan.dlq.${subject}`, {
    callback: (_e, m) => void list.push(decodeDeadLetter(m.data)),
  });
  return { list, stop: () => sub.unsubscribe() };
}

describe('cancellation', () => {
  it('cancels a queued job (no worker yet) → CANCELLED, never dispatched', async () => {
    await stack().scheduler();
    const tp = topic();
    const req = await stack().submit(tp, {});
    await stack().waitFor(req.jobId, (s) => s === 'SCHEDULED');
    cancelJob({ jobId: req.jobId, reason: 'changed my mind', requestedBy: 'alice' });
    const row = await stack().terminal(req.jobId);
    expect(row['state']).toBe('CANCELLED');
    expect(row['error_message']).toBe('changed my mind');
    const w = await stack().worker(tp);
    await sleep(300);
    expect(w.received).toEqual([]);
    expect(await stack().dlqOf(req.jobId)).toBeUndefined();
  });

  it('cancels a running job: the worker confirms CANCELLED; a worker that ignores it is ended after the grace period', async () => {
    await stack().scheduler({ timings: { cancelGraceMs: 400 } });
    const tp = topic();
    await stack().worker(tp);
    const req = await stack().submit(tp, { hang: true, progress: true });
    await stack().waitFor(req.jobId, (s) => s === 'DISPATCHED' || s === 'RUNNING');
    await sleep(100);
    cancelJob({ jobId: req.jobId, reason: 'stop' });
    await stack().waitFor(req.jobId, (_s, row) => row['cancel_requested'] === true);
    // The raw worker ignores cancels (hang): the scheduler ends it after the grace period.
    const row = await stack().terminal(req.jobId);
    expect(row['state']).toBe('CANCELLED');
    expect((await stack().eventsOf(req.jobId)).at(-1)?.reason).toBe('cancel_forced');
  });

  it('a running job whose cancel is pending is not run again when its worker is lost: it ends CANCELLED', async () => {
    await stack().scheduler({ timings: { cancelGraceMs: 60_000 } });
    const tp = topic();
    const first = await stack().worker(tp, { heartbeatMs: 100 });
    const req = await stack().submit(tp, { sleepMs: 30_000, progress: true });
    await stack().waitFor(req.jobId, (s) => s === 'RUNNING');
    cancelJob({ jobId: req.jobId, reason: 'stop it' });
    await stack().waitFor(req.jobId, (_s, row) => row['cancel_requested'] === true);
    const second = await stack().worker(tp);
    first.pause(); // dies mid-job, before confirming the cancel: its lease expires
    const row = await stack().terminal(req.jobId, 15_000);
    expect(row['state']).toBe('CANCELLED');
    expect(row['error_message']).toBe('stop it');
    await sleep(300);
    expect(second.received).toEqual([]);
    expect((await stack().eventsOf(req.jobId)).map((e) => e.to_state)).not.toContain('RETRYING');
  });

  it('keeps the recorded cancel reason when the worker confirms CANCELLED without a message', async () => {
    await stack().scheduler();
    const silent = topic();
    const talkative = topic();
    const silentWorker = await stack().worker(silent, { confirmCancels: { errorMessage: '' } });
    const talkativeWorker = await stack().worker(talkative, {
      confirmCancels: { errorMessage: 'stopped by the worker' },
    });
    const a = await stack().submit(silent, { sleepMs: 10_000 });
    const b = await stack().submit(talkative, { sleepMs: 10_000 });
    for (const [w, jobId] of [
      [silentWorker, a.jobId],
      [talkativeWorker, b.jobId],
    ] as const) {
      while (!w.received.some((r) => r.jobId === jobId)) await sleep(20);
    }
    await sleep(100); // the workers have read their input and are running the jobs
    for (const jobId of [a.jobId, b.jobId]) {
      cancelJob({ jobId, reason: 'user pressed stop', requestedBy: 'alice' });
    }
    const rowA = await stack().terminal(a.jobId);
    expect(rowA['state']).toBe('CANCELLED');
    expect(rowA['error_message']).toBe('user pressed stop');
    expect((await stack().eventsOf(a.jobId)).at(-1)?.reason).toBe('worker_cancelled');
    // A worker that says why keeps its word.
    const rowB = await stack().terminal(b.jobId);
    expect(rowB['state']).toBe('CANCELLED');
    expect(rowB['error_message']).toBe('stopped by the worker');
    expect((await stack().eventsOf(b.jobId)).at(-1)?.reason).toBe('worker_cancelled');
  });

  it('a cancel racing completion ends in exactly one terminal state', async () => {
    await stack().scheduler({ timings: { cancelGraceMs: 200 } });
    const tp = topic();
    await stack().worker(tp);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const req = await stack().submit(tp, { sleepMs: (i % 5) * 10 });
      ids.push(req.jobId);
      setTimeout(() => cancelJob({ jobId: req.jobId }), (i % 7) * 5);
    }
    for (const id of ids) {
      const row = await stack().terminal(id);
      expect(['SUCCEEDED', 'CANCELLED']).toContain(row['state']);
      const terminal = (await stack().eventsOf(id)).filter((e) =>
        ['SUCCEEDED', 'CANCELLED', 'FAILED', 'TIMEOUT'].includes(e.to_state),
      );
      expect(terminal).toHaveLength(1);
    }
  });
});

describe('fencing and bad input', () => {
  it('refuses results from a worker that lost the lease while the new attempt runs', async () => {
    const tp = topic();
    // The paused worker still sits in the queue group, so a re-dispatch may land on it: a short dispatch timeout
    // re-dispatches again until a live worker shows itself.
    await stack().scheduler({ routing: { topics: { [tp]: { dispatchTimeoutMs: 800, maxRetries: 10 } } } });
    const zombie = await stack().worker(tp, { heartbeatMs: 100 });
    await sleep(300);
    const req = await stack().submit(tp, { sleepMs: 2500, progress: true });
    await stack().waitFor(req.jobId, (s, row) => s === 'RUNNING' && row['worker_id'] === zombie.workerId);
    zombie.pause();
    const healthy = await stack().worker(tp);
    await stack().waitFor(req.jobId, (s, row) => s === 'RUNNING' && row['worker_id'] === healthy.workerId, 15_000);
    const dlq = deadLetters(Subjects.jobResult);
    zombie.sendResult(req.jobId, JobStatus.SUCCEEDED); // the zombie wakes up mid-way through attempt 2
    await sleep(300);
    expect(dlq.list.map((d) => [d.code, d.reason])).toEqual([
      ['202', expect.stringMatching(/lost this job's lease|held by worker/)],
    ]);
    const row = await stack().terminal(req.jobId);
    expect(row['state']).toBe('SUCCEEDED');
    expect(row['worker_id']).toBe(healthy.workerId);
    dlq.stop();
  });

  it('dead-letters garbage, malformed packets and unknown job ids on every consumed subject and keeps serving', async () => {
    const sched = await stack().scheduler();
    const tp = topic();
    await stack().worker(tp);
    const dlqs = [
      Subjects.jobSubmit,
      Subjects.jobResult,
      Subjects.jobProgress,
      Subjects.jobCancel,
      Subjects.heartbeat,
      Subjects.handshake,
    ].map((s) => [s, deadLetters(s)] as const);
    await stack().client.nc.flush();
    const garbage = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff]);
    for (const [s] of dlqs) stack().client.nc.publish(s, garbage);
    // Missing job_id/topic, bad topic, results for unknown jobs, an invalid result status.
    await stack().client.publishDurable(
      Subjects.jobSubmit,
      stack().client.packet({ case: 'jobRequest', value: { jobId: '', topic: tp } as never }),
    );
    await stack().client.publishDurable(
      Subjects.jobSubmit,
      stack().client.packet({ case: 'jobRequest', value: { jobId: 'ok-id', topic: 'not-a-job-subject' } as never }),
    );
    await stack().client.publishDurable(
      Subjects.jobResult,
      stack().client.packet({
        case: 'jobResult',
        value: create(JobResultSchema, { jobId: 'nope', status: JobStatus.SUCCEEDED }),
      }),
    );
    cancelJob({ jobId: 'nope' });
    // Progress for an unknown job, and one whose id no job can have.
    for (const jobId of ['nope', 'x'.repeat(300)])
      stack().client.publish(
        Subjects.jobProgress,
        stack().client.packet({ case: 'jobProgress', value: create(JobProgressSchema, { jobId, percent: 10 }) }),
      );
    // The pipeline still serves real work.
    const req = await stack().submit(tp, { echo: 'still alive' });
    expect((await stack().terminal(req.jobId))['state']).toBe('SUCCEEDED');
    await sleep(200);
    const byCode = Object.fromEntries(dlqs.map(([s, d]) => [s, d.list.map((l) => l.code).sort()]));
    expect(byCode[Subjects.jobSubmit]).toEqual(['101', '101', '203']);
    expect(byCode[Subjects.jobResult]).toEqual(['101', '204']);
    expect(byCode[Subjects.jobProgress]).toEqual(['101', '203', '204']);
    expect(byCode[Subjects.jobCancel]).toEqual(['101', '204']);
    expect(byCode[Subjects.heartbeat]).toEqual(['101']);
    expect(byCode[Subjects.handshake]).toEqual(['101']);
    expect(await sched.getJob('ok-id')).toBeUndefined();
    for (const [, d] of dlqs) d.stop();
  });
});

describe('dead-letter queue', () => {
  it('retries a DLQ entry as a new job linked to the old one, once', async () => {
    await stack().scheduler();
    const tp = topic();
    await stack().worker(tp);
    const req = await stack().submit(tp, { fail: 'fatal', failAttempts: [1] });
    expect((await stack().terminal(req.jobId))['state']).toBe('FAILED');
    const dlq = (await stack().dlqOf(req.jobId))!;
    // The operator fixes the input, then retries from the DLQ.
    await stack().redis.set(`ctx:${req.jobId}`, JSON.stringify({ echo: 'fixed' }));
    const ask = async () =>
      fromBinary(
        RetryDeadLetterResponseSchema,
        (
          await stack().client.nc.request(
            CapstanSubjects.ctlDlqRetry,
            toBinary(
              RetryDeadLetterRequestSchema,
              create(RetryDeadLetterRequestSchema, { dlqId: String(dlq.id), requestedBy: 'ops' }),
            ),
            { timeout: 5000 },
          )
        ).data,
      );
    const res = await ask();
    expect(res.ok).toBe(true);
    // The retry's input is the original's (same context_ptr); attempt 1 of the new job does not fail.
    const row = await stack().terminal(res.newJobId);
    expect(row['state']).toBe('SUCCEEDED');
    expect(row['parent_job_id']).toBe(req.jobId);
    expect(stack().decode(row['request'] as Uint8Array).labels['capstan.retry_of']).toBe(req.jobId);
    expect(await stack().dlqOf(req.jobId)).toMatchObject({ retried_job_id: res.newJobId, retried_by: 'ops' });
    const again = await ask();
    expect(again).toMatchObject({ ok: false, error: expect.stringContaining('already retried') });
  });
});

describe('sagas', () => {
  it('runs recorded compensations in reverse order, once each, when a later step fails fatally', async () => {
    await stack().scheduler();
    const tp = topic();
    const undo = topic();
    await stack().worker(tp);
    const undoWorker = await stack().worker(undo);
    const workflowId = uniqueName('wf');
    const steps: string[] = [];
    for (let i = 0; i < 3; i++) {
      const req = await stack().submit(
        tp,
        { echo: i },
        {
          workflowId,
          stepIndex: i,
          compensation: create(CompensationSchema, { topic: undo, labels: { step: String(i) } }),
        },
      );
      expect((await stack().terminal(req.jobId))['state']).toBe('SUCCEEDED');
      steps.push(req.jobId);
    }
    const failing = await stack().submit(tp, { fail: 'fatal' }, { workflowId, stepIndex: 3 });
    expect((await stack().terminal(failing.jobId))['state']).toBe('FAILED');
    for (const id of [...steps].reverse())
      expect((await stack().terminal(`${id}-compensation`))['state']).toBe('SUCCEEDED');
    expect(undoWorker.received.map((r) => r.jobId)).toEqual([...steps].reverse().map((id) => `${id}-compensation`));
    const comp = await stack().waitFor(`${steps[0]}-compensation`, () => true);
    const compReq = stack().decode(comp['request'] as Uint8Array);
    expect(compReq.priority).toBe(3); // CRITICAL
    expect(compReq.labels['capstan.compensation_of']).toBe(steps[0]);
    expect(compReq.contextPtr).toBe(`redis://ctx:${steps[0]}`); // inherited
    expect(compReq.meta?.idempotencyKey).toBe(`compensation:${steps[0]}`);
    await sleep(300);
    const rb = await stack()
      .db.selectFrom('saga_rollbacks')
      .selectAll()
      .where('workflow_id', '=', workflowId)
      .executeTakeFirstOrThrow();
    expect(rb.finished_at).not.toBeNull();
    expect(undoWorker.received).toHaveLength(3);
  });

  it('undoes a step that succeeds after the rollback of its workflow finished (it was still running then)', async () => {
    await stack().scheduler();
    const tp = topic();
    const undo = topic();
    await stack().worker(tp, { maxParallel: 8 });
    const undoWorker = await stack().worker(undo);
    const workflowId = uniqueName('wf');
    const step = (i: number, input: unknown) =>
      stack().submit(tp, input, {
        workflowId,
        stepIndex: i,
        compensation: create(CompensationSchema, { topic: undo }),
      });
    const first = await step(0, {});
    expect((await stack().terminal(first.jobId))['state']).toBe('SUCCEEDED');
    const slow = await step(1, { sleepMs: 2500 });
    await stack().waitFor(slow.jobId, (s) => s === 'DISPATCHED' || s === 'RUNNING');
    const failing = await stack().submit(tp, { fail: 'fatal' }, { workflowId, stepIndex: 2 });
    expect((await stack().terminal(failing.jobId))['state']).toBe('FAILED');
    expect((await stack().terminal(`${first.jobId}-compensation`))['state']).toBe('SUCCEEDED');
    // The rollback finished with step 0 undone; step 1 is still running.
    const rollback = () =>
      stack().db.selectFrom('saga_rollbacks').selectAll().where('workflow_id', '=', workflowId).executeTakeFirst();
    for (const end = Date.now() + 5000; Date.now() < end && !(await rollback())?.finished_at; ) await sleep(50);
    expect((await rollback())?.finished_at).not.toBeNull();
    expect((await stack().terminal(slow.jobId))['state']).toBe('SUCCEEDED');
    expect((await stack().terminal(`${slow.jobId}-compensation`, 10_000))['state']).toBe('SUCCEEDED');
    expect(undoWorker.received.map((r) => r.jobId)).toEqual([
      `${first.jobId}-compensation`,
      `${slow.jobId}-compensation`,
    ]);
  });

  it('finishes a rollback exactly once when the scheduler restarts mid-way', async () => {
    const first = await stack().scheduler();
    const tp = topic();
    const undo = topic();
    await stack().worker(tp);
    const workflowId = uniqueName('wf');
    const steps: string[] = [];
    for (let i = 0; i < 2; i++) {
      const req = await stack().submit(
        tp,
        {},
        { workflowId, stepIndex: i, compensation: create(CompensationSchema, { topic: undo }) },
      );
      await stack().terminal(req.jobId);
      steps.push(req.jobId);
    }
    // No worker for the undo topic yet: the first compensation waits.
    const failing = await stack().submit(tp, { fail: 'fatal' }, { workflowId, stepIndex: 2 });
    await stack().terminal(failing.jobId);
    await stack().waitFor(`${steps[1]}-compensation`, (s) => s === 'SCHEDULED');
    await first.stop();
    await stack().scheduler();
    const undoWorker = await stack().worker(undo);
    for (const id of [...steps].reverse())
      expect((await stack().terminal(`${id}-compensation`, 15_000))['state']).toBe('SUCCEEDED');
    await sleep(500);
    expect(undoWorker.received.map((r) => r.jobId)).toEqual([...steps].reverse().map((id) => `${id}-compensation`));
  });
});

describe('replicas', () => {
  it('the same submit delivered twice at once (no message id to dedupe it) creates and dispatches one job', async () => {
    await stack().scheduler();
    const tp = topic();
    const w = await stack().worker(tp, { maxParallel: 500 });
    const publish = async (jobId: string, copies: number) => {
      await stack().redis.set(`ctx:${jobId}`, '{}');
      const packet = stack().client.packet({
        case: 'jobRequest',
        value: create(JobRequestSchema, { jobId, topic: tp, contextPtr: `redis://ctx:${jobId}` }),
      });
      // Core publishes: the submit stream keeps every copy.
      for (let i = 0; i < copies; i++) stack().client.publish(Subjects.jobSubmit, packet);
    };
    // Duplicates amid other submits, so that both copies can wait for the same group commit behind a running one.
    const dups = Array.from({ length: 8 }, () => uniqueName('dup'));
    for (const dup of dups) {
      for (let i = 0; i < 20; i++) await publish(uniqueName('fill'), 1);
      await publish(dup, 2);
    }
    for (const dup of dups) expect((await stack().terminal(dup))['state']).toBe('SUCCEEDED');
    await sleep(500);
    for (const dup of dups) expect(w.received.filter((r) => r.jobId === dup)).toEqual([{ jobId: dup, attempt: '1' }]);
  });

  it('a replica drops the running jobs it holds in memory once another replica ended them', async () => {
    // Results go to whichever replica takes them from the shared consumer: the dispatching replica's copy of a job
    // another one finished used to stay until the job's running timeout (15 minutes by default).
    const timings = { cacheCheckMs: 300 };
    const a = await stack().scheduler({ timings });
    const b = await stack().scheduler({ timings });
    const tp = topic();
    await stack().worker(tp, { maxParallel: 64 });
    const ids = await Promise.all(
      Array.from({ length: 40 }, () =>
        stack()
          .submit(tp, { progress: true })
          .then((r) => r.jobId),
      ),
    );
    for (const id of ids) expect((await stack().terminal(id))['state']).toBe('SUCCEEDED');
    const running = async (s: typeof a) =>
      ((await s.metrics.getSingleMetric('capstan_jobs_active')?.get())?.values ?? []).reduce(
        (sum, v) => sum + v.value,
        0,
      );
    let held = -1;
    for (const end = Date.now() + 5000; Date.now() < end && held !== 0; await sleep(100))
      held = (await running(a)) + (await running(b));
    expect(held).toBe(0);
  });

  it('two schedulers share the load with no double dispatch', async () => {
    const a = await stack().scheduler();
    const b = await stack().scheduler();
    const tp = topic();
    const w1 = await stack().worker(tp, { maxParallel: 64 });
    const w2 = await stack().worker(tp, { maxParallel: 64 });
    const ids = await Promise.all(
      Array.from({ length: 200 }, () =>
        stack()
          .submit(tp, {})
          .then((r) => r.jobId),
      ),
    );
    for (const id of ids) expect((await stack().terminal(id))['state']).toBe('SUCCEEDED');
    const received = [...w1.received, ...w2.received].map((r) => r.jobId);
    expect(received).toHaveLength(200);
    expect(new Set(received).size).toBe(200);
    const senders = await stack().db.selectFrom('jobs').select('sender_id').where('job_id', 'in', ids).execute();
    expect(senders).toHaveLength(200);
    await sleep(500);
    expect([a.isLeader(), b.isLeader()].filter(Boolean)).toHaveLength(1);
  });
});
