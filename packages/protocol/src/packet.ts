import { randomBytes, randomUUID } from 'node:crypto';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { type BusPacket, BusPacketSchema } from '@capstan/gen/cordum/agent/v1/buspacket_pb';

/** The CAP wire protocol version Capstan speaks. */
export const PROTOCOL_VERSION = 1;

/** The oneof payload of a BusPacket. */
export type PacketPayload = Exclude<BusPacket['payload'], { case: undefined }>;
/** Name of a payload case: `jobRequest`, `jobResult`, `heartbeat`, `alert`, `jobProgress`, `jobCancel`, `handshake`. */
export type PayloadCase = PacketPayload['case'];
/** A packet whose payload is known to be `C`. */
export type PacketOf<C extends PayloadCase> = BusPacket & { payload: Extract<PacketPayload, { case: C }> };

/** Options for {@link createPacket}. */
export interface CreatePacketOptions {
  /** Identity of the sending component; receivers look signing keys up by it. */
  senderId: string;
  /** Trace id to carry; @default a new W3C-style 32-hex-char id */
  traceId?: string;
  /** Creation time in ms since the epoch; @default Date.now() */
  createdAtMs?: number;
  /** Optional bearer credential. */
  authToken?: string;
}

/** A new random trace id (32 lowercase hex chars, W3C trace-context compatible). */
export function newTraceId(): string {
  return randomBytes(16).toString('hex');
}

/** A new job id (UUID v4). */
export function newJobId(): string {
  return randomUUID();
}

/** Builds a BusPacket with trace_id, sender_id, created_at and protocol_version 1 filled in. */
export function createPacket<C extends PayloadCase>(
  payload: Extract<PacketPayload, { case: C }>,
  opts: CreatePacketOptions,
): PacketOf<C> {
  return create(BusPacketSchema, {
    traceId: opts.traceId || newTraceId(),
    senderId: opts.senderId,
    createdAt: timestampFromMs(opts.createdAtMs ?? Date.now()),
    protocolVersion: PROTOCOL_VERSION,
    authToken: opts.authToken ?? '',
    payload,
  }) as PacketOf<C>;
}

/** Encodes a packet for the bus. */
export function encodePacket(packet: BusPacket): Uint8Array {
  return toBinary(BusPacketSchema, packet);
}

/** Decodes bus bytes; throws on bytes that are not a protobuf BusPacket (see `parsePacket` for a non-throwing form). */
export function decodePacket(bytes: Uint8Array): BusPacket {
  return fromBinary(BusPacketSchema, bytes);
}
