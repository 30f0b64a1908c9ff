import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { type Bus, createBus, createPacketSecurity, decodeDeadLetter } from '@capstan/bus';
import { loadConfig } from '@capstan/config';
import type { DeadLetter } from '@capstan/gen/capstan/bus/v1/dead_letter_pb';
import { type BusPacket, BusPacketSchema } from '@capstan/gen/cordum/agent/v1/buspacket_pb';
import { isTerminal } from '@capstan/jobs';
import { createPointerStore, type PointerStore } from '@capstan/pointers';
import { CapstanSubjects, Subjects } from '@capstan/protocol';
import { createScheduler, type JobRecord, type Scheduler, type SchedulerTimings } from '@capstan/scheduler';
import { schedulerConfigSpec, startSchedulerService } from '@capstan/scheduler-service';
import { createDatabase, migrateToLatest, type StoreDatabase } from '@capstan/store';
import { createTestDatabase, type NatsHandle, startNats, testServices } from '@capstan/testkit';
import { Redis } from 'ioredis';
import { type Logger, pino } from 'pino';
import { newId } from './ids.js';
import { interopPaths } from './toolchains.js';

/** Scheduler timings for the suite: the defaults, with the waits that would only slow the scenarios shortened. */
export const INTEROP_TIMINGS: SchedulerTimings = {
  sweepIntervalMs: 50,
  reconcileIntervalMs: 250,
  overdueGraceMs: 500,
  // CAP SDK workers never confirm a cancel (see docs/interop.md), so a cancelled job ends after this grace.
  cancelGraceMs: 1000,
  retryBackoff: { baseMs: 100, maxMs: 300 },
  noWorkerWaitMs: 20_000,
};

/** Options for {@link startCapstanStack}. */
export interface CapstanStackOptions {
  /** Short name used in ids, database and log file names. */
  name: string;
  /**
   * Require signed packets: the scheduler gets a signer and a verifier built by `createPacketSecurity` from
   * these files (the same settings a service reads from CAPSTAN_REQUIRE_SIGNATURES / CAPSTAN_TRUSTED_KEYS /
   * CAPSTAN_SIGNING_KEY_FILE).
   * @default unsigned traffic, no verification
   */
  signatures?: { trustedKeysFile: string; signingKeyFile: string };
  /** The scheduler's sender id. @default a unique `capstan-scheduler-<name>-...` */
  schedulerId?: string;
  /**
   * Starts something the scheduler depends on (the safety kernel) once NATS, Redis and the database are up, and
   * returns extra scheduler-service environment (e.g. SAFETY_KERNEL_URL) and how to stop it (after the scheduler).
   * @default nothing
   */
  beforeScheduler?: (infra: StackInfra) => Promise<{ env: Record<string, string>; stop(): Promise<void> }>;
}

/** What a {@link CapstanStackOptions.beforeScheduler} hook can connect to. */
export interface StackInfra {
  natsUrl: string;
  redisUrl: string;
  /** The stack's own (migrated) database. */
  databaseUrl: string;
  /** Where the stack's logs go. */
  logDir: string;
}

/**
 * A real Capstan stack for one test file: a private nats-server with JetStream (the scheduler uses the fixed CAP
 * subjects, so stacks must not share one), a fresh Postgres database on the suite's server, the suite's Redis for
 * pointers, and one scheduler — `startSchedulerService` for plain stacks; for signed stacks `createScheduler` on a
 * bus built with the signer and verifier (the service has no signature settings yet).
 */
export async function startCapstanStack(opts: CapstanStackOptions) {
  const { redisUrl, databaseUrl } = testServices();
  const nats: NatsHandle = await startNats({ jetstream: true });
  const testDb = await createTestDatabase(databaseUrl, `interop_${opts.name.replace(/\W/g, '_')}`);
  const store: StoreDatabase = await createDatabase({ url: testDb.url, poolSize: 4 });
  await migrateToLatest(store.db);
  const logger = stackLogger(opts.name);
  const schedulerId = opts.schedulerId ?? newId(`capstan-scheduler-${opts.name}`);
  const stops: (() => Promise<unknown>)[] = [];
  const dependency = await opts.beforeScheduler?.({
    natsUrl: nats.url,
    redisUrl,
    databaseUrl: testDb.url,
    logDir: logDir(),
  });
  let scheduler: Scheduler;
  if (opts.signatures) {
    const security = createPacketSecurity({
      senderId: schedulerId,
      requireSignatures: true,
      trustedKeysFile: opts.signatures.trustedKeysFile,
      signingKeyFile: opts.signatures.signingKeyFile,
      replayWindowMs: 300_000,
    });
    const bus = await createBus({ servers: nats.url, senderId: schedulerId, logger, ...security });
    scheduler = await createScheduler({ bus, db: store.db, schedulerId, logger, timings: INTEROP_TIMINGS });
    stops.push(
      () => scheduler.stop(),
      () => bus.close(),
    );
  } else {
    const config = loadConfig(schedulerConfigSpec, {
      env: {
        CAPSTAN_NATS_URL: nats.url,
        CAPSTAN_DATABASE_URL: testDb.url,
        CAPSTAN_LISTEN_HOST: '127.0.0.1',
        CAPSTAN_SCHEDULER_METRICS_PORT: '0',
        CAPSTAN_SCHEDULER_ID: schedulerId,
        CAPSTAN_LOG_LEVEL: 'info',
        CAPSTAN_NO_WORKER_WAIT_MS: String(INTEROP_TIMINGS.noWorkerWaitMs),
        ...dependency?.env,
      },
      file: null,
    });
    const service = await startSchedulerService(config, { logger, store, timings: INTEROP_TIMINGS });
    scheduler = service.scheduler;
    stops.push(() => service.stop());
  }
  if (dependency) stops.push(() => dependency.stop());
  const redis = new Redis(redisUrl);
  const pointers: PointerStore = createPointerStore({ redis: redisUrl });
  // The suite's own eyes on the bus: dead letters and CAP traffic (never signs; only listens).
  const observer: Bus = await createBus({ servers: nats.url, senderId: newId('interop-observer') });
  const deadLetters: DeadLetter[] = [];
  const dlqSub = observer.nc.subscribe(CapstanSubjects.deadLetterAll, {
    callback: (_err, m) => void deadLetters.push(decodeDeadLetter(m.data)),
  });

  const stack = {
    name: opts.name,
    nats,
    redisUrl,
    redis,
    pointers,
    scheduler,
    schedulerId,
    observer,
    db: store.db,
    deadLetters,

    /** The job as Capstan has it now (memory or Postgres). */
    job: (jobId: string): Promise<JobRecord | undefined> => scheduler.getJob(jobId),

    /** Waits until the job satisfies `pred`; the error names the job's last state and reason. */
    async waitForJob(jobId: string, pred: (r: JobRecord) => boolean, what: string, timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs;
      let last: JobRecord | undefined;
      while (Date.now() < end) {
        last = await scheduler.getJob(jobId);
        if (last && pred(last)) return last;
        await sleep(25);
      }
      throw new Error(
        `job ${jobId} did not become ${what} within ${timeoutMs} ms; last: ${
          last
            ? JSON.stringify({
                state: last.state,
                attempt: last.attempt,
                wait: last.waitReason,
                error: last.errorMessage,
                events: (await stack.eventsOf(jobId)).map((e) => `${e.to_state}:${e.reason}`),
              })
            : 'unknown to Capstan'
        }`,
      );
    },

    /** Waits for a terminal state. */
    terminal: (jobId: string, timeoutMs?: number) =>
      stack.waitForJob(jobId, (r) => isTerminal(r.state), 'terminal', timeoutMs),

    /** The job's transitions in commit order. */
    eventsOf: (jobId: string) =>
      store.db.selectFrom('job_events').selectAll().where('job_id', '=', jobId).orderBy('seq').execute(),

    /** The job's dead-letter row, if it was dead-lettered. */
    dlqOf: (jobId: string) => store.db.selectFrom('job_dlq').selectAll().where('job_id', '=', jobId).executeTakeFirst(),

    /** Waits until Capstan's worker registry lists the worker (it heard a heartbeat). */
    async waitForWorker(workerId: string, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs;
      while (Date.now() < end) {
        const w = scheduler.workers.get(workerId);
        if (w && scheduler.workers.isLive(workerId, Date.now())) return w;
        await sleep(25);
      }
      throw new Error(
        `worker ${workerId} never showed up in Capstan's worker list within ${timeoutMs} ms (no heartbeat heard); ` +
          `listed: ${JSON.stringify(scheduler.workers.live(Date.now()).map((w) => w.workerId))}`,
      );
    },

    /** Records every packet published on `subject` from now on (decoded; raw bytes kept). */
    record(subject: string) {
      const packets: { packet: BusPacket; raw: Uint8Array; subject: string }[] = [];
      const sub = observer.nc.subscribe(subject, {
        callback: (_err, m) => {
          try {
            packets.push({ packet: fromBinary(BusPacketSchema, m.data), raw: m.data, subject: m.subject });
          } catch {
            // Not a packet: the scenarios only look at packets.
          }
        },
      });
      return {
        packets,
        flush: () => observer.nc.flush(),
        stop: () => sub.unsubscribe(),
        /**
         * The first recorded packet matching `pred`, waiting for it: packets from other processes may still be
         * on their way when a client program has already exited.
         */
        async find(pred: (packet: BusPacket) => boolean, what: string, timeoutMs = 5000): Promise<BusPacket> {
          const end = Date.now() + timeoutMs;
          for (;;) {
            const hit = packets.find((p) => pred(p.packet));
            if (hit) return hit.packet;
            if (Date.now() > end) throw new Error(`no ${what} seen on ${subject} within ${timeoutMs} ms`);
            await sleep(20);
          }
        },
      };
    },

    async stop() {
      dlqSub.unsubscribe();
      for (const stop of stops) await stop().catch(() => {});
      await observer.close().catch(() => {});
      await pointers.close().catch(() => {});
      redis.disconnect();
      await store.close().catch(() => {});
      await testDb.drop().catch(() => {});
      await nats.stop();
    },
  };
  return stack;
}

/** A running stack. */
export type CapstanStack = Awaited<ReturnType<typeof startCapstanStack>>;

/** Subjects the scenarios watch. */
export const WATCHED = { result: Subjects.jobResult, dlq: Subjects.jobDlq, heartbeat: Subjects.heartbeat } as const;

/** Waits `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The directory of the suite's log files (created on first use). */
export function logDir(): string {
  const dir = join(interopPaths().cacheDir, 'logs');
  mkdirSync(dir, { recursive: true });
  return dir;
}

function stackLogger(name: string): Logger {
  return pino(
    { level: 'info', base: { stack: name } },
    pino.destination({ dest: join(logDir(), `${name}.log`), sync: true }),
  );
}
