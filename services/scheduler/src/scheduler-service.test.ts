import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { create, toBinary } from '@bufbuild/protobuf';
import { loadConfig } from '@capstan/config';
import { BusPacketSchema } from '@capstan/gen/cordum/agent/v1/buspacket_pb';
import { JobRequestSchema } from '@capstan/gen/cordum/agent/v1/job_pb';
import { DecisionType } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { createPacket, createPacketSigner, encodePacket } from '@capstan/protocol';
import { startTestSafetyKernel } from '@capstan/safety-client/testing';
import { createDatabase, migrateToLatest } from '@capstan/store';
import { createTestDatabase, type NatsHandle, startNats, testServices, uniqueName } from '@capstan/testkit';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schedulerConfigSpec } from './scheduler-config.js';
import { type SchedulerServiceConfig, startSchedulerService } from './start-scheduler-service.js';

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

/** The service's config with every default, pointed at the test servers. */
const configWith = (o: Partial<SchedulerServiceConfig>): SchedulerServiceConfig => ({
  ...loadConfig(schedulerConfigSpec, { env: {}, file: null }),
  natsUrl: nats.url,
  databaseUrl: dbUrl,
  logLevel: 'silent',
  listenHost: '127.0.0.1',
  metricsPort: 0,
  ...o,
});

describe('scheduler service', () => {
  it('serves /metrics and /healthz, uses the routing file, and persists dead letters in Postgres', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sched-svc-'));
    const routes = join(dir, 'routes.yaml');
    await writeFile(routes, 'topics:\n  job.echo:\n    max_retries: 7\n');
    const service = await startSchedulerService(configWith({ schedulerId: 'svc-test', routingFile: routes }), {
      logger: pino({ level: 'silent' }),
    });
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
      // The garbage packet is in the bus counters, labelled by its subject.
      const after = await (await fetch(`${service.metricsUrl}/metrics`)).text();
      expect(after).toMatch(/^capstan_bus_packets_received_total\{subject="sys\.job\.result"\} 1$/m);
      expect(after).toMatch(
        /^capstan_bus_packets_rejected_total\{subject="sys\.job\.result",code="MALFORMED_PACKET"\} 1$/m,
      );
      expect(after).toMatch(/^capstan_bus_dead_letters_total\{subject="sys\.job\.result"\} 1$/m);
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
      startSchedulerService(configWith({ schedulerId: 'svc-bad', routingFile: routes }), {
        logger: pino({ level: 'silent' }),
      }),
    ).rejects.toThrow(/routes\.yaml:3:18: topics\.job\.echo\.max_retries/);
  });

  it('asks the safety kernel at SAFETY_KERNEL_URL before dispatch, and closes the client on stop', async () => {
    const kernel = await startTestSafetyKernel({
      decide: (req) => ({
        decision: DecisionType.DENY,
        reason: `${req.topic} is off limits`,
        policySnapshot: 'svc-snap',
        ruleId: 'deny-all',
      }),
    });
    const service = await startSchedulerService(
      configWith({ schedulerId: 'svc-kernel', safetyKernelUrl: kernel.url, policyTimeoutMs: 500 }),
      { logger: pino({ level: 'silent' }) },
    );
    const store = await createDatabase({ url: dbUrl });
    try {
      const jobId = uniqueName('job');
      const nc = await connect({ servers: nats.url });
      nc.publish(
        'sys.job.submit',
        toBinary(
          BusPacketSchema,
          create(BusPacketSchema, {
            senderId: 'test',
            protocolVersion: 1,
            payload: { case: 'jobRequest', value: create(JobRequestSchema, { jobId, topic: 'job.risky' }) },
          }),
        ),
      );
      await nc.flush();
      await nc.close();
      await expect
        .poll(
          async () =>
            (await store.db.selectFrom('jobs').selectAll().where('job_id', '=', jobId).executeTakeFirst())?.state,
          { timeout: 5000 },
        )
        .toBe('DENIED');
      const row = await store.db
        .selectFrom('job_dlq')
        .selectAll()
        .where('job_id', '=', jobId)
        .executeTakeFirstOrThrow();
      expect([row.reason, row.error_message]).toEqual(['safety_denied', 'job.risky is off limits']);
      expect(kernel.calls.map((c) => c.jobId)).toEqual([jobId]);
      const metrics = await (await fetch(`${service.metricsUrl}/metrics`)).text();
      expect(metrics).toContain('capstan_policy_checks_total{source="kernel",decision="deny"} 1');
    } finally {
      await service.stop();
      await store.close();
      await kernel.stop();
    }
  });

  it('warns that every job is allowed when no safety kernel is configured', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const service = await startSchedulerService(configWith({ schedulerId: 'svc-allow-all', safetyKernelUrl: '' }), {
      logger: pino({ level: 'warn' }, sink),
    });
    await service.stop();
    const warning = lines.map((l) => JSON.parse(l)).find((l) => /no safety kernel configured/.test(l.msg));
    expect(warning).toMatchObject({ level: 40 });
    expect(warning.msg).toContain('CAPSTAN_SAFETY_KERNEL_URL is empty');
  });

  it('requires signatures when configured: a signed submit is accepted, an unsigned one dead-lettered (104)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sched-sig-'));
    const client = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const own = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const trusted = join(dir, 'trusted.yaml');
    const spki = client.publicKey.export({ format: 'pem', type: 'spki' }) as string;
    await writeFile(trusted, `signed-client: |\n${spki.trim().replace(/^/gm, '  ')}\n`);
    const keyFile = join(dir, 'scheduler.pem');
    await writeFile(keyFile, own.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    const service = await startSchedulerService(
      configWith({
        schedulerId: 'svc-signed',
        signatures: {
          requireSignatures: true,
          trustedKeysFile: trusted,
          signingKeyFile: keyFile,
          replayWindowMs: 300_000,
        },
      }),
      { logger: pino({ level: 'silent' }) },
    );
    const store = await createDatabase({ url: dbUrl });
    const nc = await connect({ servers: nats.url });
    try {
      const submit = (jobId: string, sender: string) =>
        createPacket(
          { case: 'jobRequest', value: create(JobRequestSchema, { jobId, topic: 'job.signed' }) },
          { senderId: sender },
        );
      const signedId = uniqueName('signed');
      nc.publish(
        'sys.job.submit',
        encodePacket(
          createPacketSigner({ senderId: 'signed-client', privateKey: client.privateKey }).sign(
            submit(signedId, 'signed-client'),
          ),
        ),
      );
      const unsignedId = uniqueName('unsigned');
      nc.publish('sys.job.submit', encodePacket(submit(unsignedId, 'signed-client')));
      await nc.flush();
      await expect
        .poll(
          async () =>
            (await store.db.selectFrom('jobs').select('job_id').where('job_id', '=', signedId).executeTakeFirst())
              ?.job_id,
          { timeout: 5000 },
        )
        .toBe(signedId);
      await expect
        .poll(
          async () =>
            (
              await store.db
                .selectFrom('bus_dead_letters')
                .select(['subject', 'code', 'sender_id'])
                .where('consumer', '=', 'scheduler-submit')
                .execute()
            ).map((r) => [r.subject, r.code, r.sender_id]),
          { timeout: 5000 },
        )
        .toContainEqual(['sys.job.submit', '104', 'signed-client']);
      expect(
        await store.db.selectFrom('jobs').select('job_id').where('job_id', '=', unsignedId).executeTakeFirst(),
      ).toBeUndefined();
    } finally {
      await nc.close();
      await service.stop();
      await store.close();
    }
  });

  it('refuses to start when signatures are required but no trusted keys are configured', async () => {
    await expect(
      startSchedulerService(
        configWith({
          schedulerId: 'svc-sig-bad',
          signatures: { requireSignatures: true, trustedKeysFile: '', signingKeyFile: '', replayWindowMs: 300_000 },
        }),
        { logger: pino({ level: 'silent' }) },
      ),
    ).rejects.toThrow(/CAPSTAN_TRUSTED_KEYS/);
  });

  it('refuses a safety kernel URL that is not http(s)', () => {
    expect(() =>
      loadConfig(schedulerConfigSpec, { env: { SAFETY_KERNEL_URL: 'grpc://kernel:50051' }, file: null }),
    ).toThrow(/SAFETY_KERNEL_URL/);
    expect(
      loadConfig(schedulerConfigSpec, { env: { SAFETY_KERNEL_URL: 'http://kernel:50051' }, file: null })
        .safetyKernelUrl,
    ).toBe('http://kernel:50051');
  });
});
