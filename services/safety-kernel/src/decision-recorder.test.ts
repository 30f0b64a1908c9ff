import { create } from '@bufbuild/protobuf';
import {
  DecisionType,
  PolicyCheckRequestSchema,
  PolicyCheckResponseSchema,
} from '@capstan/gen/cordum/agent/v1/safety_pb';
import { createDatabase, migrateToLatest, type StoreDatabase } from '@capstan/store';
import { createTestDatabase, testServices } from '@capstan/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDecisionRecorder } from './decision-recorder.js';
import { captureLog } from './test-support/kernel-stack.js';

let store: StoreDatabase;
let drop: () => Promise<void>;
beforeAll(async () => {
  const t = await createTestDatabase(testServices().databaseUrl, 'sk_rec');
  drop = t.drop;
  store = await createDatabase({ url: t.url });
  await migrateToLatest(store.db);
});
afterAll(async () => {
  await store?.close();
  await drop?.();
});

const request = (jobId: string) => create(PolicyCheckRequestSchema, { topic: 'job.echo', tenant: 'acme', jobId });
const response = create(PolicyCheckResponseSchema, {
  decision: DecisionType.ALLOW,
  ruleId: 'allow-echo',
  policySnapshot: 's1',
  reason: 'ok',
});

describe('createDecisionRecorder', () => {
  it('writes queued decisions in batches and drops (counted, logged) what does not fit, without blocking', async () => {
    const log = captureLog();
    const recorder = createDecisionRecorder({
      db: store.db,
      logger: log.logger,
      capacity: 5,
      batchSize: 2,
      flushIntervalMs: 60_000,
    });
    for (let i = 0; i < 8; i++) recorder.record(request(`j${i}`), response, new Date());
    expect(recorder.stats()).toEqual({ recorded: 0, dropped: 3, pending: 5 });
    expect(log.lines.find((l) => /policy decisions dropped: queue full/.test(String(l.msg)))).toBeDefined();
    await recorder.close();
    expect(recorder.stats()).toEqual({ recorded: 5, dropped: 3, pending: 0 });
    const rows = await store.db.selectFrom('policy_decisions').selectAll().orderBy('id').execute();
    expect(rows.map((r) => [r.job_id, r.decision, r.rule_id, r.policy_snapshot])).toEqual(
      ['j0', 'j1', 'j2', 'j3', 'j4'].map((j) => [j, 'ALLOW', 'allow-echo', 's1']),
    );
  });

  it('flushes on its timer, and counts a batch the database refuses as dropped', async () => {
    const recorder = createDecisionRecorder({ db: store.db, logger: captureLog().logger, flushIntervalMs: 10 });
    recorder.record(request('timer'), response, new Date());
    await expect
      .poll(
        async () =>
          (await store.db.selectFrom('policy_decisions').select('job_id').where('job_id', '=', 'timer').execute())
            .length,
      )
      .toBe(1);
    await recorder.close();

    const closed = await createDatabase({ url: 'pglite:memory' });
    await closed.close();
    const log = captureLog();
    const failing = createDecisionRecorder({ db: closed.db, logger: log.logger, flushIntervalMs: 60_000 });
    failing.record(request('lost'), response, new Date());
    await failing.close();
    expect(failing.stats()).toMatchObject({ recorded: 0, dropped: 1, pending: 0 });
    expect(log.lines.find((l) => /writing policy decisions failed/.test(String(l.msg)))).toBeDefined();
  });
});
