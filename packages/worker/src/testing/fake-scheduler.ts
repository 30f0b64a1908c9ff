/**
 * Test support: a stand-in for the scheduler made of raw bus calls. It dispatches `JobRequest`s the way the
 * scheduler does (topic subject or `worker.<id>.jobs`, with the lease header) and records every result, progress,
 * heartbeat and handshake the workers publish, with the headers they carry.
 */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { type Bus, createBus } from '@capstan/bus';
import type { BusPacket } from '@capstan/gen/cordum/agent/v1/buspacket_pb';
import type { Handshake } from '@capstan/gen/cordum/agent/v1/handshake_pb';
import type { Heartbeat } from '@capstan/gen/cordum/agent/v1/heartbeat_pb';
import {
  JobCancelSchema,
  type JobProgress,
  JobRequestSchema,
  type JobResult,
} from '@capstan/gen/cordum/agent/v1/job_pb';
import { CapstanHeaders, Subjects } from '@capstan/protocol';
import { uniqueName } from '@capstan/testkit';

/** A packet the fake scheduler heard. */
export interface Heard<T> {
  value: T;
  packet: BusPacket;
  /** The `Capstan-Lease` header it carried. */
  lease: string | undefined;
  /** Arrival time (ms since the epoch). */
  at: number;
}

/** A fake scheduler for worker tests. */
export interface FakeScheduler {
  readonly bus: Bus;
  readonly results: Heard<JobResult>[];
  readonly progress: Heard<JobProgress>[];
  readonly heartbeats: Heard<Heartbeat>[];
  readonly handshakes: Heard<Handshake>[];
  /** Publishes a job request on `subject` with the lease header (`null`: no header). */
  dispatch(
    subject: string,
    request: MessageInitShape<typeof JobRequestSchema>,
    lease?: string | null,
    traceId?: string,
  ): void;
  /** Publishes a JobCancel on `subject` (default `sys.job.cancel`). */
  cancel(jobId: string, reason: string, subject?: string): void;
  /** Waits for the `n`-th result (1-based) of a job. */
  result(jobId: string, timeoutMs?: number, n?: number): Promise<Heard<JobResult>>;
  resultsOf(jobId: string): Heard<JobResult>[];
  progressOf(jobId: string): Heard<JobProgress>[];
  heartbeatsOf(workerId: string): Heard<Heartbeat>[];
  handshakesOf(workerId: string): Heard<Handshake>[];
  close(): Promise<void>;
}

/** Polls `cond` every 10 ms until it holds. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Connects a fake scheduler to `natsUrl` and starts listening on the worker-facing `sys.*` subjects. */
export async function createFakeScheduler(natsUrl: string): Promise<FakeScheduler> {
  const bus = await createBus({ servers: natsUrl, senderId: uniqueName('fake_scheduler') });
  const results: Heard<JobResult>[] = [];
  const progress: Heard<JobProgress>[] = [];
  const heartbeats: Heard<Heartbeat>[] = [];
  const handshakes: Heard<Handshake>[] = [];
  const listen = <T>(subject: string, into: Heard<T>[]) =>
    bus.subscribe(subject, {
      concurrency: 1,
      handler: (packet, ctx) => {
        into.push({
          value: packet.payload.value as T,
          packet,
          lease: ctx.header(CapstanHeaders.lease),
          at: Date.now(),
        });
      },
    });
  listen(Subjects.jobResult, results);
  listen(Subjects.jobProgress, progress);
  listen(Subjects.heartbeat, heartbeats);
  listen(Subjects.handshake, handshakes);
  await bus.nc.flush();

  const resultsOf = (jobId: string) => results.filter((r) => r.value.jobId === jobId);
  return {
    bus,
    results,
    progress,
    heartbeats,
    handshakes,
    dispatch(subject, request, lease = '1.1', traceId) {
      const packet = bus.packet(
        { case: 'jobRequest', value: create(JobRequestSchema, request) },
        traceId ? { traceId } : undefined,
      );
      bus.publish(subject, packet, lease === null ? undefined : { headers: { [CapstanHeaders.lease]: lease } });
    },
    cancel(jobId, reason, subject = Subjects.jobCancel) {
      bus.publish(
        subject,
        bus.packet({
          case: 'jobCancel',
          value: create(JobCancelSchema, { jobId, reason, requestedBy: 'fake-scheduler' }),
        }),
      );
    },
    async result(jobId, timeoutMs = 10_000, n = 1) {
      await until(() => resultsOf(jobId).length >= n, timeoutMs, `result #${n} of job ${jobId}`);
      return resultsOf(jobId)[n - 1] as Heard<JobResult>;
    },
    resultsOf,
    progressOf: (jobId) => progress.filter((p) => p.value.jobId === jobId),
    heartbeatsOf: (workerId) => heartbeats.filter((h) => h.value.workerId === workerId),
    handshakesOf: (workerId) => handshakes.filter((h) => h.value.componentId === workerId),
    close: () => bus.close(),
  };
}
