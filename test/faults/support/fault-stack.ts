import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Bus, createBus } from '@capstan/bus';
import { createPointerStore, type PointerStore } from '@capstan/pointers';
import { createDatabase, migrateToLatest, type StoreDatabase } from '@capstan/store';
import {
  createTestDatabase,
  type NatsCluster,
  type NatsHandle,
  startNats,
  startNatsCluster,
  testServices,
} from '@capstan/testkit';
import { type Client, createClient } from '@capstan/worker';
import { type BackgroundLoad, type BackgroundLoadOptions, startBackgroundLoad } from './background-load.js';
import { type CapstanProcess, REPO_ROOT } from './capstan-process.js';
import { TERMINAL_STATES } from './history.js';
import { type CheckOptions, checkHistory, type HistoryVerdict } from './history-checker.js';
import { createHistoryRecorder, type HistoryRecorder } from './history-recorder.js';
import { createJobSubmitter, type JobSubmitter } from './job-submitter.js';
import { loadDbHistory } from './load-db-history.js';
import { type SchedulerProcess, startSchedulerProcess } from './scheduler-process.js';
import { readSideEffects } from './side-effects.js';
import { startWorkerProcess, type WorkerProcess } from './worker-process.js';

/** Topic every fault worker serves. */
export const FAULT_TOPIC = 'job.faults.work';
/** Tenant of every fault job. */
export const FAULT_TENANT = 'faults';

/** Options of {@link startFaultStack}. */
export interface FaultStackOptions {
  /** Run name: directory `.capstan/faults/<name>-<time>/` holds the process logs and effects files. */
  name: string;
  /** A Postgres URL of a server the test owns (to restart it); @default a fresh database on the shared test server */
  adminDatabaseUrl?: string;
  /** A Redis URL the test owns (to restart it); @default the shared test Redis */
  redisUrl?: string;
  /** CAPSTAN_* settings for every scheduler replica. @default {} */
  schedulerEnv?: Record<string, string>;
  /** Servers the test started for this run (a restartable Redis or Postgres), stopped after everything else. @default [] */
  servers?: { stop(): Promise<void> }[];
  /**
   * Run a JetStream cluster of this many nats-server nodes instead of one server; every client and Capstan process
   * gets the URLs of all nodes. @default one server
   */
  natsClusterSize?: number;
}

/** A fault run: private NATS, a fresh database, Capstan processes, the recorder, a client and the checker. */
export interface FaultStack {
  /** The nats-server (with `natsClusterSize`: the cluster's first node). */
  readonly nats: NatsHandle;
  /** The cluster, with `natsClusterSize`. */
  readonly natsCluster: NatsCluster | undefined;
  /** Every node's client URL, comma-separated (what CAPSTAN_NATS_URL takes). */
  readonly natsUrl: string;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly runDir: string;
  readonly store: StoreDatabase;
  readonly recorder: HistoryRecorder;
  readonly bus: Bus;
  readonly client: Client;
  readonly submitter: JobSubmitter;
  readonly schedulers: SchedulerProcess[];
  readonly workers: WorkerProcess[];
  /**
   * Makes sure a scheduler replica runs (starting `name` when an earlier fault left none alive), so each fault of a
   * file is judged on its own.
   */
  ensureScheduler(name: string): Promise<void>;
  /** Starts a scheduler replica from the deployable. `schedulerId` defaults to `name`. */
  startScheduler(
    name: string,
    opts?: { schedulerId?: string; env?: Record<string, string> },
  ): Promise<SchedulerProcess>;
  /**
   * Starts a worker process and waits for its second heartbeat. It may be started together with the first scheduler:
   * it loads its modules at once but connects only once a scheduler is healthy, so the scheduler hears its handshake
   * (and dispatches to it directly).
   */
  startWorker(workerId: string, opts?: { heartbeatMs?: number; concurrency?: number }): Promise<WorkerProcess>;
  /** Registers another Capstan process (e.g. a safety kernel) for the I6 checks. */
  track(p: CapstanProcess): void;
  startLoad(opts?: BackgroundLoadOptions): BackgroundLoad;
  /**
   * Waits until every job acknowledged since `since` (or the job holding its idempotency key) is terminal and every
   * saga rollback finished, or `timeoutMs` passed; resolves with how long it took (it does not throw: the checker
   * reports).
   */
  drain(timeoutMs: number, since?: number): Promise<number>;
  /** Drains, then checks the whole history (I1–I6). */
  check(drainTimeoutMs: number, options?: CheckOptions): Promise<HistoryVerdict>;
  /** Stops everything; the run directory is kept when `keepRunDir` (a failed test) for the logs. */
  stop(opts?: { keepRunDir?: boolean }): Promise<void>;
}

/** Starts the servers and tooling of one fault run (the Capstan processes are started by the test). */
export async function startFaultStack(opts: FaultStackOptions): Promise<FaultStack> {
  const runDir = join(
    REPO_ROOT,
    '.capstan',
    'faults',
    `${opts.name}-${new Date().toISOString().replace(/[:.]/g, '-')}`,
  );
  await mkdir(runDir, { recursive: true });
  const shared = testServices();
  // What is up so far, stopped in reverse order if a later step fails.
  const started: (() => Promise<unknown>)[] = [];
  const undo = async () => {
    for (const stop of started.reverse()) await stop().catch(() => {});
    for (const server of opts.servers ?? []) await server.stop().catch(() => {});
  };
  const startParts = async () => {
    const cluster = opts.natsClusterSize ? await startNatsCluster({ size: opts.natsClusterSize }) : undefined;
    if (cluster) started.push(() => cluster.stop());
    const nats = cluster ? cluster.nodes[0]! : await startNats({ jetstream: true });
    if (!cluster) started.push(() => nats.stop());
    const servers = cluster ? cluster.urls : [nats.url];
    const testDb = await createTestDatabase(opts.adminDatabaseUrl ?? shared.databaseUrl, 'faults');
    started.push(() => testDb.drop());
    const store = await createDatabase({ url: testDb.url, poolSize: 4 });
    started.push(() => store.close());
    await migrateToLatest(store.db);
    const recorderBus = await createBus({ servers, senderId: 'faults-recorder' });
    started.push(() => recorderBus.close());
    const bus = await createBus({ servers, senderId: 'faults-client' });
    started.push(() => bus.close());
    return { cluster, nats, natsUrl: servers.join(','), testDb, store, recorderBus, bus };
  };
  const { cluster, nats, natsUrl, testDb, store, recorderBus, bus } = await startParts().catch(async (err: unknown) => {
    await undo();
    throw err;
  });
  const redisUrl = opts.redisUrl ?? shared.redisUrl;
  const recorder = createHistoryRecorder(recorderBus.nc);
  const pointers: PointerStore = createPointerStore({ redis: redisUrl });
  const client = createClient({ bus, pointers });
  const submitter = createJobSubmitter({
    client,
    recorder,
    topic: FAULT_TOPIC,
    tenant: FAULT_TENANT,
    prefix: opts.name,
  });
  const schedulers: SchedulerProcess[] = [];
  const workers: WorkerProcess[] = [];
  const others: CapstanProcess[] = [];
  const loads: BackgroundLoad[] = [];
  const all = () => [...schedulers, ...workers, ...others];
  // I6: the peak RSS of every process, sampled through the whole run.
  // Written once the first scheduler is healthy; workers started before wait for it.
  const schedulerReady = join(runDir, 'scheduler-ready');
  const sampler = setInterval(() => {
    for (const p of all()) void p.sampleRss();
  }, 500);

  const ackedDone = async (since: number): Promise<boolean> => {
    const acked = recorder.history.submits
      .filter((s) => s.ackedAt !== undefined && s.submittedAt >= since)
      .map((s) => s.jobId);
    const holders = new Map<string, string>();
    for (const e of recorder.history.events) if (e.kind === 'DUPLICATE') holders.set(e.jobId, e.duplicateOf);
    const rows = await store.db.selectFrom('jobs').select(['job_id', 'state']).execute();
    const state = new Map(rows.map((r) => [r.job_id, r.state]));
    for (const id of acked) {
      const s = state.get(id) ?? state.get(holders.get(id) ?? '');
      if (!s || !TERMINAL_STATES.includes(s)) return false;
    }
    const open = await store.db
      .selectFrom('saga_rollbacks')
      .select('workflow_id')
      .where('finished_at', 'is', null)
      .execute();
    return open.length === 0;
  };

  const stack: FaultStack = {
    nats,
    natsCluster: cluster,
    natsUrl,
    databaseUrl: testDb.url,
    redisUrl,
    runDir,
    store,
    recorder,
    bus,
    client,
    submitter,
    schedulers,
    workers,
    async startScheduler(name, o = {}) {
      const s = await startSchedulerProcess({
        name,
        schedulerId: o.schedulerId ?? name,
        natsUrl,
        databaseUrl: testDb.url,
        runDir,
        env: { ...opts.schedulerEnv, ...o.env },
      });
      schedulers.push(s);
      await writeFile(schedulerReady, s.schedulerId);
      return s;
    },
    async ensureScheduler(name) {
      if (!schedulers.some((p) => p.alive())) await stack.startScheduler(name);
    },
    async startWorker(workerId, o = {}) {
      const w = await startWorkerProcess(
        { workerId, natsUrl, redisUrl, topics: [FAULT_TOPIC], runDir, waitForFile: schedulerReady, ...o },
        recorder,
      );
      workers.push(w);
      return w;
    },
    track(p) {
      others.push(p);
    },
    startLoad(o) {
      const load = startBackgroundLoad(submitter, recorder, o);
      loads.push(load);
      return load;
    },
    async drain(timeoutMs, since = 0) {
      const start = Date.now();
      while (Date.now() - start < timeoutMs) {
        if (await ackedDone(since).catch(() => false)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      return Date.now() - start;
    },
    async check(drainTimeoutMs, options) {
      await Promise.all(loads.map((l) => l.stop()));
      await stack.drain(drainTimeoutMs, options?.since);
      // Late packets (a zombie's result, the last events) still arrive for a moment.
      await new Promise((r) => setTimeout(r, 300));
      await Promise.all(all().map((p) => p.sampleRss()));
      const input = {
        ...recorder.history,
        effects: await readSideEffects(runDir),
        db: await loadDbHistory(store.db),
        processes: all().map((p) => p.record()),
      };
      const verdict = checkHistory(input, options);
      // The evidence behind the verdict, kept with the logs when the test fails.
      await writeFile(join(runDir, `history-${Date.now()}.json`), JSON.stringify({ verdict, ...input }));
      return verdict;
    },
    async stop(o = {}) {
      clearInterval(sampler);
      await Promise.all(loads.map((l) => l.stop()));
      // SIGKILL: the run is over and checked; how these processes shut down is not what it tests.
      await Promise.all(all().map((p) => p.kill().catch(() => {})));
      recorder.stop();
      await bus.close().catch(() => {});
      await recorderBus.close().catch(() => {});
      await pointers.close().catch(() => {});
      await store.close().catch(() => {});
      await testDb.drop().catch(() => {});
      await (cluster ?? nats).stop();
      for (const server of opts.servers ?? []) await server.stop().catch(() => {});
      if (!o.keepRunDir) await rm(runDir, { recursive: true, force: true });
    },
  };
  return stack;
}
