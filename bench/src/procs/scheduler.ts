// A scheduler replica in its own process, for benchmarks: env NATS_URL, DATABASE_URL, SCHEDULER_ID, FLUSHES, FLUSH_AFTER,
// SUBMIT_BACKLOG_MAX, MAX_OPEN_JOBS;
// SAFETY_KERNEL_URL asks that kernel's Check before every dispatch, built like the deployable scheduler service
// builds it (POLICY_CACHE_TTL_MS: its decision cache, 0 = every job is a Check call); without it the allow-all policy.
import { createBus } from '@capstan/bus';
import { createSafetyKernelPolicy } from '@capstan/safety-client';
import { createScheduler, loadActivePolicySnapshot, type PolicyPort } from '@capstan/scheduler';
import { createDatabase } from '@capstan/store';
import { serveRunner } from '../lib/proc-ipc.js';
import { stampJobRequests } from '../lib/receive-stamps.js';

const env = process.env;
const store = await createDatabase({ url: env['DATABASE_URL']!, poolSize: 8 });
const natsBus = await createBus({ servers: env['NATS_URL']!, senderId: env['SCHEDULER_ID'] ?? 'bench-scheduler' });
// Stamps the scheduler's receive of each sys.job.submit packet (dispatch-overhead); costs one map write per job.
const { bus, stamps } = stampJobRequests(natsBus);
const kernel = env['SAFETY_KERNEL_URL']
  ? createSafetyKernelPolicy({
      url: env['SAFETY_KERNEL_URL'],
      protocol: 'grpc',
      cache: { ttlMs: Number(env['POLICY_CACHE_TTL_MS'] ?? 10_000) },
      nats: natsBus.nc,
      loadActiveSnapshot: () => loadActivePolicySnapshot(store.db),
    })
  : undefined;
const scheduler = await createScheduler({
  bus,
  db: store.db,
  maxConcurrentFlushes: Number(env['FLUSHES'] ?? 2),
  ...(env['FLUSH_AFTER'] ? { concurrentFlushAfter: Number(env['FLUSH_AFTER']) } : {}),
  // SUBMIT_BACKLOG_MAX bounds the submit stream (what CAPSTAN_SUBMIT_BACKLOG_MAX does in the scheduler service).
  ...(env['SUBMIT_BACKLOG_MAX'] ? { streams: { submitBacklogMax: Number(env['SUBMIT_BACKLOG_MAX']) } } : {}),
  // MAX_OPEN_JOBS: what CAPSTAN_MAX_OPEN_JOBS does (stop taking submits while this many jobs are queued or running).
  ...(env['MAX_OPEN_JOBS'] ? { maxOpenJobs: Number(env['MAX_OPEN_JOBS']) } : {}),
  ...(kernel ? { policy: kernel as PolicyPort } : {}),
});
process.send?.({ ready: true });
serveRunner(
  async () => {
    await scheduler.stop();
    await kernel?.close();
    await natsBus.close();
    await store.close();
  },
  { stamps: () => stamps.take() },
);
