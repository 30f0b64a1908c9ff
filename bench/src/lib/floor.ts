/**
 * What the floor diagnostics (durable-floor, pipeline-floor) share: Capstan's durable path with nothing else in it,
 * and BullMQ's whole job measured the same way beside it.
 */
import { create } from '@bufbuild/protobuf';
import { capstanStreams } from '@capstan/bus';
import { type JobRequest, JobRequestSchema } from '@capstan/gen/cordum/agent/v1/job_pb';
import { Streams } from '@capstan/protocol';
import { AckPolicy, type JetStreamManager } from '@nats-io/jetstream';
import { startBullmqPeer } from './bullmq-target.js';
import { ownCpuSeconds } from './e2e-phases.js';
import { closedLoop } from './load.js';
import { cpuSeconds } from './processes.js';

/**
 * A work-queue stream configured as Capstan's submit stream (`capstanStreams()`), under another name and subject,
 * with a durable consumer `c` acknowledging explicitly as the bus's consumers do.
 */
export async function addWorkQueueStream(jsm: JetStreamManager, name: string, subject: string): Promise<void> {
  const submit = capstanStreams().find((s) => s.name === Streams.submit)!;
  await jsm.streams.add({ ...submit, name, subjects: [subject] });
  await jsm.consumers.add(name, { durable_name: 'c', ack_policy: AckPolicy.Explicit, max_ack_pending: 1024 });
}

/** The request a floor job submits: what a CAP client sends for a no-op job. */
export function floorJobRequest(jobId: string): JobRequest {
  return create(JobRequestSchema, {
    jobId,
    topic: 'job.bench',
    contextPtr: `redis://ctx:${jobId}`,
    tenantId: 'default',
    meta: { tenantId: 'default', idempotencyKey: jobId },
  });
}

/** BullMQ's whole job as e2e-noop runs it (worker process, this client, Redis): CPU seconds over `jobs` jobs. */
export async function measureBullmqJobs(redis: { url: string; pid: number }, jobs: number) {
  const bull = await startBullmqPeer(redis.url, 50, () => {});
  try {
    await closedLoop(bull.target, 2000, 500); // warm-up
    bull.target.usePrefix('m-');
    const cpu = () => cpuSeconds(bull.worker.pid!) + cpuSeconds(redis.pid) + ownCpuSeconds();
    const before = cpu();
    const run = await closedLoop(bull.target, jobs, 500);
    return { cpuSeconds: cpu() - before, jobsPerSec: run.jobsPerSec };
  } finally {
    await bull.stop();
  }
}
