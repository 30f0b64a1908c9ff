import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, migrateToLatest } from '@capstan/store';
import { createTestDatabase, type NatsHandle, startNats, testServices } from '@capstan/testkit';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSchedulerService } from './start-scheduler-service.js';

let nats: NatsHandle;
let dbUrl: string;
let drop: () => Promise<void>;
beforeAll(async () => {
  nats = await startNats();
  const t = await createTestDatabase(testServices().databaseUrl, 'svc');
  dbUrl = t.url;
  drop = t.drop;
  const store = await createDatabase({ url: dbUrl });
  await migrateToLatest(store.db);
  await store.close();
});
afterAll(async () => {
  await nats?.stop();
  await drop?.();
});

describe('scheduler service', () => {
  it('serves /metrics and /healthz, uses the routing file, and persists dead letters in Postgres', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sched-svc-'));
    const routes = join(dir, 'routes.yaml');
    await writeFile(routes, 'topics:\n  job.echo:\n    max_retries: 7\n');
    const service = await startSchedulerService(
      {
        natsUrl: nats.url,
        databaseUrl: dbUrl,
        logLevel: 'silent',
        listenHost: '127.0.0.1',
        metricsPort: 0,
        schedulerId: 'svc-test',
        routingFile: routes,
        failOpen: false,
        noWorkerWaitMs: 60_000,
      },
      { logger: pino({ level: 'silent' }) },
    );
    try {
      const health = await fetch(`${service.metricsUrl}/healthz`);
      expect(health.status).toBe(200);
      const metrics = await (await fetch(`${service.metricsUrl}/metrics`)).text();
      expect(metrics).toContain('capstan_bus_packets_received_total');
      expect(metrics).toContain('capstan_jobs_active');
      expect((await fetch(`${service.metricsUrl}/nope`)).status).toBe(404);

      const nc = await connect({ servers: nats.url });
      nc.publish('sys.job.result', new Uint8Array([9, 9, 9, 9]));
      await nc.flush();
      await nc.close();
      const store = await createDatabase({ url: dbUrl });
      await expect
        .poll(
          async () =>
            (await store.db.selectFrom('bus_dead_letters').selectAll().execute()).map((r) => [
              r.subject,
              r.code,
              r.consumer,
            ]),
          { timeout: 5000 },
        )
        .toEqual([['sys.job.result', '101', 'scheduler-result']]);
      await store.close();
      expect(service.scheduler.id).toBe('svc-test');
    } finally {
      await service.stop();
    }
  });

  it('refuses an invalid routing file at startup with the file and position', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sched-svc-'));
    const routes = join(dir, 'routes.yaml');
    await writeFile(routes, 'topics:\n  job.echo:\n    max_retries: -1\n');
    await expect(
      startSchedulerService(
        {
          natsUrl: nats.url,
          databaseUrl: dbUrl,
          logLevel: 'silent',
          listenHost: '127.0.0.1',
          metricsPort: 0,
          schedulerId: 'svc-bad',
          routingFile: routes,
          failOpen: false,
          noWorkerWaitMs: 60_000,
        },
        { logger: pino({ level: 'silent' }) },
      ),
    ).rejects.toThrow(/routes\.yaml:3:18: topics\.job\.echo\.max_retries/);
  });
});
