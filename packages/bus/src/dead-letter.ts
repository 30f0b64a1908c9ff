import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import { type DeadLetter, DeadLetterSchema } from '@capstan/gen/capstan/bus/v1/dead_letter_pb';
import { deadLetterSubject, type PacketRejection } from '@capstan/protocol';

/** Where rejected packets go besides the `capstan.dlq.>` subjects (e.g. a Postgres table). */
export type DeadLetterSink = (letter: DeadLetter) => void | Promise<void>;

/** What a consumer knows about a packet it refuses. */
export interface DeadLetterInput {
  subject: string;
  raw: Uint8Array;
  code: string;
  reason: string;
  consumer: string;
  senderId?: string;
  traceId?: string;
}

/** Builds the DeadLetter record for a refused packet. */
export function createDeadLetter(input: DeadLetterInput): DeadLetter {
  return create(DeadLetterSchema, {
    subject: input.subject,
    code: input.code,
    reason: input.reason,
    senderId: input.senderId ?? '',
    traceId: input.traceId ?? '',
    original: input.raw,
    consumer: input.consumer,
    receivedAt: timestampNow(),
  });
}

/** DeadLetter fields from a packet rejection. */
export function deadLetterFromRejection(
  subject: string,
  raw: Uint8Array,
  rejection: PacketRejection,
  consumer: string,
): DeadLetter {
  return createDeadLetter({
    subject,
    raw,
    code: rejection.wireCode,
    reason: rejection.reason,
    consumer,
    ...(rejection.packet ? { senderId: rejection.packet.senderId, traceId: rejection.packet.traceId } : {}),
  });
}

/** The subject and bytes a dead letter is published with. */
export function encodeDeadLetter(letter: DeadLetter): { subject: string; data: Uint8Array } {
  return { subject: deadLetterSubject(letter.subject), data: toBinary(DeadLetterSchema, letter) };
}

/** Decodes a dead letter read from `capstan.dlq.>`. */
export function decodeDeadLetter(data: Uint8Array): DeadLetter {
  return fromBinary(DeadLetterSchema, data);
}
