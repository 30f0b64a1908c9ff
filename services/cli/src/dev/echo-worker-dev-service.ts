import type { DevService } from './services.js';

/** Topic of the demo pool `capstan dev` runs. */
export const ECHO_TOPIC = 'job.echo';

/**
 * A demo worker pool on `job.echo`: echoes its input back, reporting progress, so the quick start shows a job going
 * end to end. An input `{ "sleep_ms": 2000 }` makes it take its time (and show progress); `{ "fail": "fatal" }`
 * or `{ "fail": "retryable" }` make it fail that way.
 */
export const echoWorkerDevService: DevService = {
  name: 'echo-worker',
  async start(ctx) {
    const [{ createPointerStore }, { createWorker, JobFailure }] = await Promise.all([
      import('@capstan/pointers'),
      import('@capstan/worker'),
    ]);
    const pointers = createPointerStore({ redis: ctx.redisUrl });
    const workerId = `echo-worker-${process.pid}`;
    const worker = await createWorker({
      servers: ctx.natsUrl.split(','),
      pointers,
      topics: [ECHO_TOPIC],
      workerId,
      concurrency: 16,
      logger: ctx.logger,
      handler: async (input: unknown, job) => {
        const opts = (typeof input === 'object' && input !== null ? input : {}) as { sleep_ms?: number; fail?: string };
        if (opts.fail === 'fatal') throw JobFailure.fatal('asked to fail (fatal)', { code: '1000' });
        if (opts.fail === 'retryable' && job.attempt < 3)
          throw JobFailure.retryable(`asked to fail (attempt ${job.attempt})`);
        const total = Math.min(Math.max(0, Number(opts.sleep_ms ?? 0)), 60_000);
        for (let done = 0; done < total; done += 250) {
          if (job.signal.aborted) throw job.signal.reason;
          job.progress(Math.round((done / total) * 100), `echoing (${done}/${total} ms)`);
          await new Promise((r) => setTimeout(r, Math.min(250, total - done)));
        }
        return { echo: input ?? null, worker: workerId, attempt: job.attempt };
      },
    });
    return {
      urls: { topic: ECHO_TOPIC },
      async stop() {
        await worker.shutdown({ timeoutMs: 5000 });
        await pointers.close();
      },
    };
  },
};
