/**
 * Test support: the scheduler's part in a round trip, reduced to a bridge. Job requests from the submit stream are
 * dispatched on their topic with a lease header, and each result is announced as a terminal JobEvent.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import type { Bus } from '@capstan/bus';
import { JobEventKind, JobEventSchema } from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import { JobStatus } from '@capstan/gen/cordum/agent/v1/job_pb';
import { CapstanHeaders, DEFAULT_TENANT, jobEventsSubject, Streams, Subjects } from '@capstan/protocol';
import { uniqueName } from '@capstan/testkit';

/** Starts the bridge on `bus` (whose server must have the Capstan streams); returns its stop function. */
export async function startBridgeScheduler(bus: Bus): Promise<() => Promise<void>> {
  const tenants = new Map<string, string>();
  const dispatcher = await bus.consume({
    stream: Streams.submit,
    durable: uniqueName('bridge'),
    expect: ['jobRequest'],
    handler: (packet) => {
      const request = packet.payload.value;
      tenants.set(request.jobId, request.tenantId || DEFAULT_TENANT);
      bus.publish(request.topic, bus.packet({ case: 'jobRequest', value: request }, { traceId: packet.traceId }), {
        headers: { [CapstanHeaders.lease]: '1.1' },
      });
    },
  });
  const results = bus.subscribe(Subjects.jobResult, {
    expect: ['jobResult'],
    handler: (packet) => {
      const r = packet.payload.value;
      const tenant = tenants.get(r.jobId);
      if (!tenant) return;
      const state = r.status === JobStatus.SUCCEEDED ? 'SUCCEEDED' : 'FAILED';
      const event = create(JobEventSchema, {
        kind: JobEventKind.TRANSITION,
        previousState: 'RUNNING',
        job: {
          jobId: r.jobId,
          tenant,
          state,
          resultPtr: r.resultPtr,
          workerId: r.workerId,
          errorMessage: r.errorMessage,
          artifactPtrs: r.artifactPtrs,
        },
      });
      bus.nc.publish(jobEventsSubject(tenant, r.jobId), toBinary(JobEventSchema, event));
    },
  });
  await bus.nc.flush();
  return async () => {
    await dispatcher.stop();
    await results.stop();
  };
}
