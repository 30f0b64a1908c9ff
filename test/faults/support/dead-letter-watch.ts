import { decodeDeadLetter } from '@capstan/bus';
import { CapstanSubjects } from '@capstan/protocol';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';

/** A dead letter seen on `capstan.dlq.>`. */
export interface SeenDeadLetter {
  /** The subject it was published on, `capstan.dlq.<original subject>`. */
  dlqSubject: string;
  /** The original subject, from the letter. */
  subject: string;
  code: string;
  reason: string;
  /** The consumer that refused the packet. */
  consumer: string;
  /** The refused bytes. */
  original: Uint8Array;
  at: number;
}

/** Collects every dead letter published while it runs. */
export interface DeadLetterWatch {
  readonly letters: readonly SeenDeadLetter[];
  /** Dead letters on `capstan.dlq.<subject>` whose original bytes are exactly `data`. */
  lettersFor(subject: string, data: Uint8Array): SeenDeadLetter[];
  stop(): void;
}

/**
 * Subscribes to `capstan.dlq.>` (a plain subscription: it takes nothing away) and keeps every dead letter, so a
 * test can tell which of the packets it published were refused, by whom and why.
 */
export function watchDeadLetters(nc: NatsConnection): DeadLetterWatch {
  const letters: SeenDeadLetter[] = [];
  const byKey = new Map<string, SeenDeadLetter[]>();
  const key = (dlqSubject: string, data: Uint8Array) => `${dlqSubject}\u0000${Buffer.from(data).toString('base64')}`;
  const sub: Subscription = nc.subscribe(CapstanSubjects.deadLetterAll, {
    callback: (err, m) => {
      if (err) return;
      let letter: ReturnType<typeof decodeDeadLetter>;
      try {
        letter = decodeDeadLetter(m.data);
      } catch {
        // Not a dead letter (someone published junk on capstan.dlq.>): not ours to judge here.
        return;
      }
      const seen: SeenDeadLetter = {
        dlqSubject: m.subject,
        subject: letter.subject,
        code: letter.code,
        reason: letter.reason,
        consumer: letter.consumer,
        original: letter.original,
        at: Date.now(),
      };
      letters.push(seen);
      const k = key(m.subject, letter.original);
      const list = byKey.get(k);
      if (list) list.push(seen);
      else byKey.set(k, [seen]);
    },
  });
  return {
    letters,
    lettersFor: (subject, data) => byKey.get(key(`${CapstanSubjects.deadLetterPrefix}.${subject}`, data)) ?? [],
    stop: () => sub.unsubscribe(),
  };
}
