// A no-op CAP worker using only the wire contract (raw NATS + protobuf + Redis), in its own process.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import { BusPacketSchema } from '@capstan/gen/cordum/agent/v1/buspacket_pb';
import { HeartbeatSchema } from '@capstan/gen/cordum/agent/v1/heartbeat_pb';
import { JobResultSchema, JobStatus } from '@capstan/gen/cordum/agent/v1/job_pb';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';

const topic = process.env['TOPIC'] ?? 'job.bench';
const workerId = process.env['WORKER_ID'] ?? `bench-worker-${process.pid}`;
const nc = await connect({ servers: process.env['NATS_URL']! });
const redis = new Redis(process.env['REDIS_URL']!);
const writeResult = process.env['WRITE_RESULT'] !== '0';
const active = 0;
const beat = () =>
  nc.publish(
    'sys.heartbeat',
    toBinary(
      BusPacketSchema,
      create(BusPacketSchema, {
        senderId: workerId,
        protocolVersion: 1,
        createdAt: timestampNow(),
        payload: {
          case: 'heartbeat',
          value: create(HeartbeatSchema, { workerId, pool: topic, maxParallelJobs: 10_000, activeJobs: active }),
        },
      }),
    ),
  );
beat();
setInterval(beat, 1000);
nc.subscribe(topic, {
  queue: topic,
  callback: (_e, msg) => {
    const packet = fromBinary(BusPacketSchema, msg.data);
    if (packet.payload.case !== 'jobRequest') return;
    const jobId = packet.payload.value.jobId;
    const lease = msg.headers?.get('Capstan-Lease');
    const finish = () => {
      const out = toBinary(
        BusPacketSchema,
        create(BusPacketSchema, {
          senderId: workerId,
          traceId: packet.traceId,
          protocolVersion: 1,
          createdAt: timestampNow(),
          payload: {
            case: 'jobResult',
            value: create(JobResultSchema, {
              jobId,
              status: JobStatus.SUCCEEDED,
              workerId,
              resultPtr: writeResult ? `redis://res:${jobId}` : '',
            }),
          },
        }),
      );
      nc.publish('sys.job.result', out);
    };
    void lease;
    if (writeResult) void redis.set(`res:${jobId}`, '{}', 'PX', 60_000).then(finish);
    else finish();
  },
});
process.send?.({ ready: true });
process.on('SIGTERM', () => process.exit(0));
