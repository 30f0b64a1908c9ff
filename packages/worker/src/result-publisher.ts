import type { Bus } from '@capstan/bus';
import { type PacketOf, Subjects } from '@capstan/protocol';
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import type { Logger } from 'pino';

/** Options of {@link createResultPublisher}. */
export interface ResultPublisherOptions {
  /** How long to keep trying one result (NATS restarting, stream leader moving). @default 120000 */
  giveUpAfterMs?: number;
  /** Timeout of one JetStream publish. @default 5000 */
  ackTimeoutMs?: number;
  /** How long "no stream captures sys.job.result" is believed before JetStream is tried again. @default 30000 */
  noStreamRecheckMs?: number;
}

/** Publishes job results so that a nats-server restart cannot lose them. */
export interface ResultPublisher {
  /** Publishes in the background; never throws. */
  publish(packet: PacketOf<'jobResult'>, headers: Readonly<Record<string, string>> | undefined, msgId: string): void;
  /** Results still being published. */
  pending(): number;
  /** Waits until every result was published or given up, at most `timeoutMs`. */
  settle(timeoutMs: number): Promise<void>;
  /**
   * Gives up every result still being published (logging their job ids) and any published later, so no retry outlives
   * the worker: call it before closing the bus. Their promises settle at once; no attempt starts afterwards.
   */
  stop(): void;
}

const isNoStream = (err: unknown) => err instanceof Error && err.name === 'JetStreamNotEnabled';

/** A result that could not be published within `giveUpAfterMs`. */
export class ResultNotPublishedError extends Error {
  override name = 'ResultNotPublishedError';
}

/**
 * A result is the one thing a worker must not lose: it is published to JetStream (the scheduler's
 * `sys.job.result` stream) and retried until the stream acknowledges it, with a message id so a retry after a lost
 * ack is stored once. A plain NATS publish, what CAP SDK workers do, is lost when nats-server dies before storing
 * it. Where no stream captures results (a bus without a Capstan scheduler), it falls back to a plain publish.
 */
export function createResultPublisher(bus: Bus, logger: Logger, options: ResultPublisherOptions = {}): ResultPublisher {
  const giveUpAfterMs = options.giveUpAfterMs ?? 120_000;
  const ackTimeoutMs = options.ackTimeoutMs ?? 5000;
  const noStreamRecheckMs = options.noStreamRecheckMs ?? 30_000;
  // Whether a stream captures sys.job.result, and until when that answer holds.
  let mode: { durable: boolean; until: number } | undefined;
  /** Results being published, by the promise that settles once each is published or given up. */
  const inFlight = new Map<Promise<void>, { jobId: string; giveUp: (reason: unknown) => void }>();
  // cockatiel 4 finishes the attempt or backoff delay under way before it sees the signal: `giveUp` settles a result
  // at once, and `publishOnce` checks the signal so no new attempt starts.
  const stopper = new AbortController();
  const policy = retry(
    handleWhen((err) => !(err instanceof ResultNotPublishedError)),
    { maxAttempts: Number.MAX_SAFE_INTEGER, backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }) },
  );

  const durable = async (): Promise<boolean> => {
    if (mode && Date.now() < mode.until) return mode.durable;
    const stream = await bus.streamFor(Subjects.jobResult); // throws while disconnected: retried
    mode = { durable: stream !== undefined, until: stream ? Number.POSITIVE_INFINITY : Date.now() + noStreamRecheckMs };
    if (!stream)
      logger.info('no JetStream stream captures sys.job.result; results are published without acknowledgement');
    return mode.durable;
  };

  const plain = (packet: PacketOf<'jobResult'>, headers: Readonly<Record<string, string>> | undefined) =>
    bus.publish(Subjects.jobResult, packet, headers ? { headers } : undefined);

  const publishOnce = async (
    packet: PacketOf<'jobResult'>,
    headers: Readonly<Record<string, string>> | undefined,
    msgId: string,
    started: number,
  ) => {
    if (stopper.signal.aborted) throw stopper.signal.reason;
    try {
      if (!(await durable())) return plain(packet, headers);
      await bus.publishDurable(Subjects.jobResult, packet, {
        msgId,
        timeoutMs: ackTimeoutMs,
        ...(headers ? { headers } : {}),
      });
    } catch (err) {
      // No responder: the stream went away (or its server is still starting); ask again before the next try.
      if (isNoStream(err)) mode = undefined;
      if (Date.now() - started > giveUpAfterMs)
        throw new ResultNotPublishedError(`no JetStream ack within ${giveUpAfterMs} ms`, { cause: err });
      throw err;
    }
  };

  return {
    publish(packet, headers, msgId) {
      const jobId = packet.payload.value.jobId;
      if (stopper.signal.aborted) {
        logger.warn({ job_id: jobId }, 'result publisher stopped; job result not published');
        return;
      }
      const started = Date.now();
      // One per result, not one shared by all: a promise that never settles would keep a reaction per race forever.
      let giveUp!: (reason: unknown) => void;
      const givenUp = new Promise<never>((_resolve, reject) => {
        giveUp = reject;
      });
      const job = Promise.race([
        policy.execute(() => publishOnce(packet, headers, msgId, started), stopper.signal),
        givenUp,
      ])
        .catch((err: unknown) => {
          // Given up by stop(), which logged it.
          if (stopper.signal.aborted) return;
          logger.error(
            { err, job_id: jobId },
            'could not publish the job result; the scheduler re-dispatches the job when it finds it lost',
          );
        })
        .finally(() => inFlight.delete(job));
      inFlight.set(job, { jobId, giveUp });
    },
    pending: () => inFlight.size,
    async settle(timeoutMs) {
      if (inFlight.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([...inFlight.keys()]),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    },
    stop() {
      if (stopper.signal.aborted) return;
      if (inFlight.size > 0) {
        logger.warn(
          { job_ids: [...inFlight.values()].map((r) => r.jobId) },
          'worker stopping: job results not yet acknowledged are given up; the scheduler re-dispatches those jobs when it finds them lost',
        );
      }
      const reason = new ResultNotPublishedError('result publisher stopped');
      stopper.abort(reason);
      for (const { giveUp } of inFlight.values()) giveUp(reason);
    },
  };
}
