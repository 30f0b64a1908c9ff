import { create } from '@bufbuild/protobuf';
import { HeartbeatSchema } from '@capstan/gen/cordum/agent/v1/heartbeat_pb';
import { createPacket, encodePacket, Subjects } from '@capstan/protocol';
import { connect, type NatsConnection } from '@nats-io/transport-node';

/** Publishes CAP heartbeats on sys.heartbeat, as a worker would. */
export async function heartbeatPublisher(natsUrl: string) {
  const nc: NatsConnection = await connect({ servers: natsUrl });
  return {
    async beat(workerId: string, extra: { activeJobs?: number; maxParallelJobs?: number } = {}) {
      const packet = createPacket(
        {
          case: 'heartbeat',
          value: create(HeartbeatSchema, {
            workerId,
            activeJobs: extra.activeJobs ?? 0,
            maxParallelJobs: extra.maxParallelJobs ?? 4,
            pool: 'job.test',
          }),
        },
        { senderId: workerId },
      );
      nc.publish(Subjects.heartbeat, encodePacket(packet));
      await nc.flush();
    },
    raw(data: Uint8Array) {
      nc.publish(Subjects.heartbeat, data);
    },
    close: () => nc.close(),
  };
}
