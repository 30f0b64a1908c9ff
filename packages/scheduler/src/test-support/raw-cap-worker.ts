import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import { BusPacketSchema } from '@capstan/gen/cordum/agent/v1/buspacket_pb';
import { HeartbeatSchema } from '@capstan/gen/cordum/agent/v1/heartbeat_pb';
import { JobProgressSchema, type JobRequest, JobResultSchema, JobStatus } from '@capstan/gen/cordum/agent/v1/job_pb';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';

/** What a test job asks the raw worker to do (its JSON input). */
export interface RawJobInput {
  echo?: unknown;
  sleepMs?: number;
  fail?: 'retryable' | 'fatal' | 'plain';
  /** Fail only on these attempts (1-based, from env CAPSTAN_ATTEMPT). */
  failAttempts?: number[];
  progress?: boolean;
  /** Never answer (simulates a hung worker). */
  hang?: boolean;
}

/**
 * A CAP worker written only against the wire contract — raw NATS, the generated protobuf types and Redis — like a
 * worker built with an official CAP SDK: it listens on the topic subject in a queue group named after it, reads
 * `redis://ctx:<job_id>`, writes `res:<job_id>`, publishes JobResult on sys.job.result, heartbeats on sys.heartbeat.
 * It knows nothing of Capstan (no lease header echo, no direct dispatch). Like the official Python SDK it publishes
 * no progress unless a job asks for it, and reports its running jobs in each heartbeat's `active_jobs`.
 */
export async function startRawCapWorker(opts: {
  natsUrl: string;
  redisUrl: string;
  topic: string;
  workerId: string;
  heartbeatMs?: number;
  maxParallel?: number;
  pool?: string;
  /**
   * Listen on sys.job.cancel and stop a running job with a CANCELLED result carrying this `error_message` ('' like
   * SDKs that send none). @default cancels are ignored (like the official Python SDK)
   */
  confirmCancels?: { errorMessage: string };
}) {
  const nc: NatsConnection = await connect({ servers: opts.natsUrl, name: opts.workerId });
  const redis = new Redis(opts.redisUrl);
  const received: { jobId: string; attempt: string }[] = [];
  // The dispatched requests as the worker got them (env, labels), for tests of what the scheduler adds.
  const requests: JobRequest[] = [];
  let active = 0;
  let paused = false;
  let stopped = false;
  let heartbeating = true;
  // Running jobs that a cancel can stop early (their sleep resolves at once).
  const cancellable = new Map<string, () => void>();
  const send = (subject: string, payload: Parameters<typeof create<typeof BusPacketSchema>>[1]) =>
    nc.publish(
      subject,
      toBinary(
        BusPacketSchema,
        create(BusPacketSchema, { senderId: opts.workerId, protocolVersion: 1, createdAt: timestampNow(), ...payload }),
      ),
    );
  const beat = () => {
    if (!heartbeating) return;
    send('sys.heartbeat', {
      payload: {
        case: 'heartbeat',
        value: create(HeartbeatSchema, {
          workerId: opts.workerId,
          pool: opts.pool ?? opts.topic,
          activeJobs: active,
          maxParallelJobs: opts.maxParallel ?? 8,
          cpuLoad: 5,
        }),
      },
    });
  };
  beat();
  const timer = setInterval(beat, opts.heartbeatMs ?? 300);
  const sub = nc.subscribe(opts.topic, {
    queue: opts.topic,
    callback: (_err, msg) => {
      void (async () => {
        if (paused) return;
        const packet = fromBinary(BusPacketSchema, msg.data);
        if (packet.payload.case !== 'jobRequest') return;
        const req = packet.payload.value;
        received.push({ jobId: req.jobId, attempt: req.env['CAPSTAN_ATTEMPT'] ?? '' });
        requests.push(req);
        const raw = req.contextPtr.startsWith('redis://')
          ? await redis.get(req.contextPtr.slice('redis://'.length))
          : null;
        const input: RawJobInput = raw ? JSON.parse(raw) : {};
        if (input.hang) return;
        active++;
        const started = Date.now();
        if (input.progress) {
          send('sys.job.progress', {
            traceId: packet.traceId,
            payload: {
              case: 'jobProgress',
              value: create(JobProgressSchema, {
                jobId: req.jobId,
                percent: 50,
                message: 'half way',
                status: JobStatus.RUNNING,
              }),
            },
          });
        }
        let cancelled = false;
        if (input.sleepMs) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, input.sleepMs);
            cancellable.set(req.jobId, () => {
              cancelled = true;
              clearTimeout(timer);
              resolve();
            });
          });
          cancellable.delete(req.jobId);
        }
        active--;
        // SIGSTOP-like: woke up after being fenced (tests resume it explicitly); or stopped (its connection is gone).
        if (paused || stopped) return;
        if (cancelled) {
          send('sys.job.result', {
            traceId: packet.traceId,
            payload: {
              case: 'jobResult',
              value: create(JobResultSchema, {
                jobId: req.jobId,
                status: JobStatus.CANCELLED,
                workerId: opts.workerId,
                errorMessage: opts.confirmCancels?.errorMessage ?? '',
              }),
            },
          });
          return;
        }
        const attempt = Number(req.env['CAPSTAN_ATTEMPT'] ?? '1');
        const failing = input.fail && (!input.failAttempts || input.failAttempts.includes(attempt));
        if (failing) {
          const status =
            input.fail === 'fatal'
              ? JobStatus.FAILED_FATAL
              : input.fail === 'plain'
                ? JobStatus.FAILED
                : JobStatus.FAILED_RETRYABLE;
          send('sys.job.result', {
            traceId: packet.traceId,
            payload: {
              case: 'jobResult',
              value: create(JobResultSchema, {
                jobId: req.jobId,
                status,
                workerId: opts.workerId,
                errorCode: '1001',
                errorMessage: `asked to fail (${input.fail})`,
              }),
            },
          });
          return;
        }
        await redis.set(`res:${req.jobId}`, JSON.stringify({ echo: input.echo ?? null, worker: opts.workerId }));
        send('sys.job.result', {
          traceId: packet.traceId,
          payload: {
            case: 'jobResult',
            value: create(JobResultSchema, {
              jobId: req.jobId,
              status: JobStatus.SUCCEEDED,
              resultPtr: `redis://res:${req.jobId}`,
              workerId: opts.workerId,
              executionMs: BigInt(Date.now() - started),
            }),
          },
        });
      })();
    },
  });
  // Cancels are broadcast to every worker; only the one running the job acts on it.
  const cancelSub = opts.confirmCancels
    ? nc.subscribe('sys.job.cancel', {
        callback: (_err, msg) => {
          const packet = fromBinary(BusPacketSchema, msg.data);
          if (packet.payload.case === 'jobCancel') cancellable.get(packet.payload.value.jobId)?.();
        },
      })
    : undefined;
  await nc.flush();
  return {
    workerId: opts.workerId,
    received,
    requests,
    nc,
    /** Stop heartbeats (the scheduler will consider the worker gone) but keep the connection. */
    stopHeartbeats() {
      heartbeating = false;
    },
    /** Heartbeat again (at once, then on the interval) after {@link stopHeartbeats}. */
    resumeHeartbeats() {
      heartbeating = true;
      beat();
    },
    /** Stop taking and answering jobs (like SIGSTOP), and heartbeats. */
    pause() {
      paused = true;
      heartbeating = false;
    },
    /** Publish a late result as if the worker woke up (zombie). */
    sendResult(jobId: string, status: JobStatus) {
      send('sys.job.result', {
        payload: {
          case: 'jobResult',
          value: create(JobResultSchema, { jobId, status, workerId: opts.workerId, resultPtr: `redis://res:${jobId}` }),
        },
      });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      sub.unsubscribe();
      cancelSub?.unsubscribe();
      await nc.close();
      redis.disconnect();
    },
  };
}
