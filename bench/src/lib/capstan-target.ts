/** Capstan as a load target: submits over NATS with the SDK client, completions from the scheduler's job events. */
import { fromBinary } from '@bufbuild/protobuf';
import { createBus } from '@capstan/bus';
import { JobEventSchema } from '@capstan/gen/capstan/scheduler/v1/job_event_pb';
import { createPointerStore } from '@capstan/pointers';
import { jobEventsWildcard } from '@capstan/protocol';
import { createClient } from '@capstan/worker';
import type { LoadTarget } from './load.js';

/** A load target plus what it holds open. */
export interface ClosableTarget extends LoadTarget {
  /** Uses job ids `<prefix><i>` from now on (each phase needs ids no earlier phase used: job ids are unique). */
  usePrefix(prefix: string): void;
  close(): Promise<void>;
}

/**
 * Submits job `i` as `{ topic, jobId: <prefix><i>, input: input(i) }` (the input stored at redis://ctx, the
 * JobRequest JetStream-acknowledged) and reports it done when its SUCCEEDED job event arrives.
 */
export async function createCapstanTarget(
  env: Record<string, string>,
  topic: string,
  input: (i: number) => unknown,
): Promise<ClosableTarget> {
  const bus = await createBus({ servers: env['NATS_URL']!, senderId: 'bench-client' });
  const pointers = createPointerStore({ redis: env['REDIS_URL']! });
  const client = createClient({ bus, pointers });
  let prefix = 'j-';
  let done: ((i: number) => void) | undefined;
  bus.nc.subscribe(jobEventsWildcard(), {
    callback: (_e, m) => {
      const ev = fromBinary(JobEventSchema, m.data);
      const id = ev.job?.jobId;
      if (ev.job?.state === 'SUCCEEDED' && id?.startsWith(prefix)) done?.(Number(id.slice(prefix.length)));
    },
  });
  return {
    submit: async (i) => {
      await client.submit({ topic, jobId: `${prefix}${i}`, input: input(i) });
    },
    onDone: (cb) => {
      done = cb;
    },
    usePrefix: (p) => {
      prefix = p;
    },
    close: async () => {
      await bus.close();
      await pointers.close();
    },
  };
}
