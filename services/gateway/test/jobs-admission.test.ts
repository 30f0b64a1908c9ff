import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type JobsStack, sleep, startJobsStack, tenant, topic, waitForState } from './jobs-stack.js';

// Admission control of POST /v1/jobs against real NATS (JetStream), Redis, Postgres, scheduler and worker: the
// scheduler bounds the submit stream to 3 waiting submits (CAPSTAN_SUBMIT_BACKLOG_MAX), the gateway processes at
// most 2 submits at once (CAPSTAN_GATEWAY_JOB_SUBMIT_MAX_IN_FLIGHT).
const BACKLOG = 3;
let stack: JobsStack;
let org: Awaited<ReturnType<typeof tenant>>;
let echo: string;

beforeAll(async () => {
  stack = await startJobsStack({ jobSubmitMaxInFlight: 2 }, { streams: { submitBacklogMax: BACKLOG } });
  org = await tenant(stack.api, 'admission');
  echo = topic();
  await stack.worker(echo, async (input: unknown) => ({ echo: input }));
});
afterAll(async () => {
  await stack?.stop();
});

const submit = (input: unknown, headers: Record<string, string> = {}) =>
  stack.api('POST', '/v1/jobs', { key: org.key, body: { topic: echo, input }, headers });

describe('POST /v1/jobs when the job backlog is full', () => {
  it('answers 429 (code 1015, Retry-After, what to do) and accepts again once the scheduler drained it', async () => {
    // No scheduler consumes: submits wait in the stream until it holds BACKLOG of them.
    await stack.stopScheduler();
    const accepted: string[] = [];
    for (let i = 0; i < BACKLOG; i++) {
      const res = await submit({ i });
      expect(res.status).toBe(202);
      accepted.push(res.body.job_id);
    }

    const refused = await submit({ i: 'one too many' });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.body.error).toMatchObject({ code: 1015, details: [] });
    expect(refused.body.error.message).toMatch(/not accepted \(RESOURCE_EXHAUSTED\).*backlog.*is full.*Retry after/);
    expect(refused.body.error.trace_id).toBe(refused.headers.get('x-trace-id'));
    // Nothing of the refused job remains: no ACCEPTED record, no stored input.
    const jobId = /Job (\S+) was not accepted/.exec(refused.body.error.message)?.[1];
    expect(jobId).toBeDefined();
    expect((await stack.api('GET', `/v1/jobs/${jobId}`, { key: org.key })).status).toBe(404);
    expect(await stack.gw.service.context.redis.exists(`ctx:${jobId}`)).toBe(0);

    // Right after a refusal submits are shed before any other work, even before authentication.
    stack.gw.service.context.submitLimiter.backlogFull();
    const shed = await stack.api('POST', '/v1/jobs', { body: { topic: echo, input: {} } });
    expect(shed.status).toBe(429);
    expect(shed.body.error).toMatchObject({ code: 1015 });
    expect(shed.body.error.message).toMatch(/^The job was not accepted \(RESOURCE_EXHAUSTED\)/);

    // An idempotent submit is refused the same way, and its retry after the drain is a new job, not a replay.
    const keyed = await submit({ i: 'keyed' }, { 'idempotency-key': 'admission-1' });
    expect(keyed.status).toBe(429);
    expect(keyed.body.error.code).toBe(1015);

    await stack.startScheduler();
    for (const id of accepted) await waitForState(stack.api, org.key, id, (s) => s === 'SUCCEEDED');

    const again = await submit({ i: 'keyed' }, { 'idempotency-key': 'admission-1' });
    expect(again.status).toBe(202);
    expect(again.body.idempotent_replay).toBe(false);
    const done = await waitForState(stack.api, org.key, again.body.job_id, (s) => s === 'SUCCEEDED');
    expect(done.state).toBe('SUCCEEDED');
  });
});

describe("POST /v1/jobs beyond this gateway's submits in progress", () => {
  it('answers 503 (code 1016, Retry-After) at once, and accepts again when the slots are free', async () => {
    const limiter = stack.gw.service.context.submitLimiter;
    expect(limiter.max).toBe(2);
    // A frozen nats-server holds the JetStream acks: two submits wait for theirs and take both slots.
    process.kill(stack.nats.pid, 'SIGSTOP');
    let slow: Promise<Awaited<ReturnType<typeof submit>>>[] = [];
    try {
      slow = [submit({ slow: 1 }), submit({ slow: 2 })];
      const deadline = Date.now() + 5000;
      while (limiter.inFlight < 2 && Date.now() < deadline) await sleep(10);
      expect(limiter.inFlight).toBe(2);

      const started = performance.now();
      const refused = await submit({ slow: 3 });
      expect(performance.now() - started).toBeLessThan(1000); // refused at once, not queued behind the others
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(refused.body.error.code).toBe(1016);
      expect(refused.body.error.message).toMatch(/processing 2 submits already.*nothing was accepted.*Retry after/);
    } finally {
      process.kill(stack.nats.pid, 'SIGCONT');
    }
    // The held submits get their acks, and the slots come back.
    for (const res of await Promise.all(slow)) expect(res.status).toBe(202);
    expect(limiter.inFlight).toBe(0);
    const next = await submit({ slow: 4 });
    expect(next.status).toBe(202);
    await waitForState(stack.api, org.key, next.body.job_id, (s) => s === 'SUCCEEDED');
  });
});
