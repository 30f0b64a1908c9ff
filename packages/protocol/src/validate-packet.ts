import type { BusPacket } from '@capstan/gen/cordum/agent/v1/buspacket_pb';
import { type CapErrorName, capErrorString } from './error-codes.js';
import { decodePacket, type PacketOf, type PayloadCase, PROTOCOL_VERSION } from './packet.js';

/** Why a packet was refused: a CAP error code and a readable reason. */
export interface PacketRejection {
  ok: false;
  /** CAP error code name, e.g. `MALFORMED_PACKET`. */
  code: CapErrorName;
  /** The wire form of `code` (e.g. "101"). */
  wireCode: string;
  /** What was wrong and what was expected. */
  reason: string;
  /** The decoded packet, when decoding got that far (for sender/trace in logs). */
  packet?: BusPacket;
}

/** Result of validating a packet. */
export type PacketValidation<C extends PayloadCase = PayloadCase> = { ok: true; packet: PacketOf<C> } | PacketRejection;

/** Limits applied to incoming packets. */
export interface ValidatePacketOptions<C extends PayloadCase> {
  /** Payload cases this consumer accepts; @default every case */
  expect?: readonly C[];
}

function reject(code: CapErrorName, reason: string, packet?: BusPacket): PacketRejection {
  return packet
    ? { ok: false, code, wireCode: capErrorString(code), reason, packet }
    : { ok: false, code, wireCode: capErrorString(code), reason };
}

/**
 * Decodes and validates bus bytes: protobuf well-formed, protocol_version 1 (0 is tolerated as "unset" from
 * minimal senders), a payload of an expected kind, and the required fields of that payload.
 * Never throws.
 */
export function parsePacket<C extends PayloadCase>(
  bytes: Uint8Array,
  opts: ValidatePacketOptions<C> = {},
): PacketValidation<C> {
  let packet: BusPacket;
  try {
    packet = decodePacket(bytes);
  } catch (err) {
    return reject('MALFORMED_PACKET', `not a protobuf cordum.agent.v1.BusPacket: ${(err as Error).message}`);
  }
  return validatePacket(packet, opts);
}

/** Validates an already decoded packet; see {@link parsePacket}. */
export function validatePacket<C extends PayloadCase>(
  packet: BusPacket,
  opts: ValidatePacketOptions<C> = {},
): PacketValidation<C> {
  if (packet.protocolVersion !== PROTOCOL_VERSION && packet.protocolVersion !== 0) {
    return reject(
      'VERSION_MISMATCH',
      `protocol_version ${packet.protocolVersion} is not supported: expected ${PROTOCOL_VERSION}`,
      packet,
    );
  }
  const kind = packet.payload.case;
  if (kind === undefined) {
    return reject('UNKNOWN_PAYLOAD', 'packet has no payload (or one this protocol version does not know)', packet);
  }
  if (opts.expect && !(opts.expect as readonly string[]).includes(kind)) {
    return reject(
      'UNKNOWN_PAYLOAD',
      `payload ${kind} is not accepted here: expected ${opts.expect.join(' or ')}`,
      packet,
    );
  }
  const missing = missingFields(packet);
  if (missing.length > 0) {
    return reject('MALFORMED_PACKET', `${kind} is missing required field(s): ${missing.join(', ')}`, packet);
  }
  return { ok: true, packet: packet as PacketOf<C> };
}

/** The required fields of each payload that are empty, in wire (snake_case) names. */
function missingFields(packet: BusPacket): string[] {
  const p = packet.payload;
  const missing: string[] = [];
  const need = (value: string, name: string) => {
    if (!value) missing.push(name);
  };
  switch (p.case) {
    case 'jobRequest':
      need(p.value.jobId, 'job_id');
      need(p.value.topic, 'topic');
      break;
    case 'jobResult':
      need(p.value.jobId, 'job_id');
      if (p.value.status === 0) missing.push('status');
      break;
    case 'jobProgress':
    case 'jobCancel':
      need(p.value.jobId, 'job_id');
      break;
    case 'heartbeat':
      need(p.value.workerId, 'worker_id');
      break;
    case 'handshake':
      need(p.value.componentId, 'component_id');
      break;
    case 'alert':
      need(p.value.message, 'message');
      break;
    default:
      break;
  }
  return missing;
}
