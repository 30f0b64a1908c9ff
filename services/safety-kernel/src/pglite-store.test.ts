import { create } from '@bufbuild/protobuf';
import { DecisionType, PolicyCheckRequestSchema } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { createDatabase, migrateToLatest, type StoreDatabase } from '@capstan/store';
import { type NatsHandle, startNats, testServices } from '@capstan/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSafetyKernelService } from './start-safety-kernel-service.js';
import { captureLog, kernelClients, TEST_BUNDLE } from './test-support/kernel-stack.js';

let nats: NatsHandle;
let store: StoreDatabase;
beforeAll(async () => {
  nats = await startNats();
  store = await createDatabase({ url: 'pglite:memory' });
  await migrateToLatest(store.db);
});
afterAll(async () => {
  await store?.close();
  await nats?.stop();
});

describe('safety kernel on the caller’s embedded PGlite (capstan dev)', () => {
  it('runs every store path on the handle it is given and leaves it open', async () => {
    const kernel = await startSafetyKernelService(
      {
        natsUrl: nats.url,
        redisUrl: testServices().redisUrl,
        databaseUrl: 'postgres://nobody@127.0.0.1:1/never-opened',
        logLevel: 'silent',
        listenHost: '127.0.0.1',
        port: 0,
        metricsPort: 0,
        policyFile: '',
        keepSnapshots: 5,
        approvalTtlMs: 60_000,
      },
      { logger: captureLog().logger, store },
    );
    const c = kernelClients(kernel.url);
    try {
      await c.admin.uploadBundle({ bundleYaml: TEST_BUNDLE, activate: true, actor: 'dev' });
      const deploy = await c.grpc.check(create(PolicyCheckRequestSchema, { topic: 'job.deploy', jobId: 'j1' }));
      expect(deploy.decision).toBe(DecisionType.REQUIRE_HUMAN);
      expect(
        (await c.grpc.check(create(PolicyCheckRequestSchema, { topic: 'job.deploy', jobId: 'j1' }))).approvalRef,
      ).toBe(deploy.approvalRef);
      expect((await c.admin.approve({ approvalId: deploy.approvalRef, approver: 'me' })).approval?.decidedBy).toBe(
        'me',
      );
      expect((await c.admin.listDecisions({})).decisions).toHaveLength(2);
      expect((await c.admin.listBundles({})).snapshots.map((s) => s.active)).toEqual([true, false]);
      await c.admin.rollback({ actor: 'dev' });
      expect(kernel.activeSnapshot()).not.toBe(deploy.policySnapshot);
      const sim = await c.admin.simulate({ bundleYaml: TEST_BUNDLE, replayLast: 10 });
      // Active is the built-in deny-all again, so both recorded deploys would change to REQUIRE_HUMAN.
      expect(sim).toMatchObject({ replayed: 2, changed: 2 });
      expect(sim.changes.map((ch) => `${ch.beforeDecision}>${ch.afterDecision}`)).toEqual([
        'DENY>REQUIRE_HUMAN',
        'DENY>REQUIRE_HUMAN',
      ]);
    } finally {
      c.close();
      await kernel.stop();
    }
    // Still open: the kernel did not close (or replace) the caller's database.
    expect((await store.db.selectFrom('policy_activations').select('id').execute()).length).toBe(3);
  });
});
