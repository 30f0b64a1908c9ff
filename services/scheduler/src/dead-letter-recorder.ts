import type { DeadLetterSink } from '@capstan/bus';
import type { CapstanDatabase } from '@capstan/store';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';

/** Options for {@link createDeadLetterRecorder}. */
export interface DeadLetterRecorderOptions {
  /** Letters waiting to be written; beyond it new ones are dropped (and counted) so a flood of garbage can't grow memory; @default 1000 */
  maxQueued?: number;
  /** Rows per insert; @default 100 */
  batchSize?: number;
}

/**
 * Persists dead-lettered bus packets in `bus_dead_letters` (besides the `capstan.dlq.>` subjects), in batches and
 * with a bounded queue: a poison flood costs a bounded amount of memory and database work.
 */
export function createDeadLetterRecorder(
  db: Kysely<CapstanDatabase>,
  logger: Logger,
  opts: DeadLetterRecorderOptions = {},
) {
  const maxQueued = opts.maxQueued ?? 1000;
  const batchSize = opts.batchSize ?? 100;
  const queue: Parameters<DeadLetterSink>[0][] = [];
  let dropped = 0;
  let writing: Promise<void> | undefined;

  const write = async () => {
    while (queue.length > 0) {
      const batch = queue.splice(0, batchSize);
      try {
        await db
          .insertInto('bus_dead_letters')
          .values(
            batch.map((l) => ({
              subject: l.subject,
              code: l.code,
              reason: l.reason.slice(0, 4096),
              sender_id: l.senderId || null,
              trace_id: l.traceId || null,
              consumer: l.consumer,
              original: l.original,
            })),
          )
          .execute();
      } catch (err) {
        logger.error({ err, count: batch.length }, 'could not persist dead letters');
      }
    }
    if (dropped > 0) {
      logger.warn({ dropped }, 'dead letters dropped: the persistence queue was full');
      dropped = 0;
    }
  };

  const sink: DeadLetterSink = (letter) => {
    if (queue.length >= maxQueued) {
      dropped++;
      return;
    }
    queue.push(letter);
    writing ??= write().finally(() => {
      writing = undefined;
    });
  };
  return {
    sink,
    /** Waits until queued letters are written. */
    async drain() {
      while (writing) await writing;
    },
  };
}
