import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import { SystemAlertSchema } from '@capstan/gen/cordum/agent/v1/alert_pb';
import { type BusPacket, BusPacketSchema } from '@capstan/gen/cordum/agent/v1/buspacket_pb';
import { HandshakeSchema } from '@capstan/gen/cordum/agent/v1/handshake_pb';
import { HeartbeatSchema } from '@capstan/gen/cordum/agent/v1/heartbeat_pb';
import {
  JobCancelSchema,
  JobProgressSchema,
  JobRequestSchema,
  JobResultSchema,
  JobStatus,
} from '@capstan/gen/cordum/agent/v1/job_pb';
import { encodePacket, newTraceId, type PacketPayload, PROTOCOL_VERSION, Subjects } from '@capstan/protocol';

/** The CAP subjects a scheduler replica consumes (`packages/scheduler/src/create-scheduler.ts`, wiring). */
export const CONSUMED_SUBJECTS = [
  Subjects.jobSubmit,
  Subjects.jobResult,
  Subjects.jobCancel,
  Subjects.jobProgress,
  Subjects.heartbeat,
  Subjects.handshake,
] as const;

/** One of {@link CONSUMED_SUBJECTS}. */
export type ConsumedSubject = (typeof CONSUMED_SUBJECTS)[number];

/** A packet no consumer may act on, and why. */
export interface PoisonPacket {
  subject: ConsumedSubject;
  /** What is wrong with it, e.g. `truncated protobuf`. */
  kind: string;
  /** The exact bytes published (the dead letter's `original` must equal them). */
  data: Uint8Array;
}

const SENDER = 'faults-poisoner';
/** A job id of 300 characters: every character is allowed, the length is not (at most 128). */
const OVERSIZED_ID_LENGTH = 300;

let serial = 0;
/** A job id no job has, unique per call (poison must never touch the load's jobs). */
const poisonId = () => `poison-${process.pid}-${++serial}`;

const packet = (payload: PacketPayload, overrides: Partial<Pick<BusPacket, 'protocolVersion'>> = {}) =>
  create(BusPacketSchema, {
    traceId: newTraceId(),
    senderId: SENDER,
    createdAt: timestampNow(),
    protocolVersion: PROTOCOL_VERSION,
    payload,
    ...overrides,
  });

/** A well-formed payload of the kind `subject` expects, with `id` as its job id, worker id or component id. */
function rightPayload(subject: ConsumedSubject, id: string): PacketPayload {
  switch (subject) {
    case Subjects.jobSubmit:
      return {
        case: 'jobRequest',
        value: create(JobRequestSchema, { jobId: id, topic: 'job.faults.poison', tenantId: 'faults' }),
      };
    case Subjects.jobResult:
      return {
        case: 'jobResult',
        value: create(JobResultSchema, { jobId: id, status: JobStatus.SUCCEEDED, workerId: SENDER }),
      };
    case Subjects.jobCancel:
      return { case: 'jobCancel', value: create(JobCancelSchema, { jobId: id, reason: 'poison' }) };
    case Subjects.jobProgress:
      return { case: 'jobProgress', value: create(JobProgressSchema, { jobId: id, percent: 50 }) };
    case Subjects.heartbeat:
      return { case: 'heartbeat', value: create(HeartbeatSchema, { workerId: id, pool: 'poison' }) };
    case Subjects.handshake:
      return { case: 'handshake', value: create(HandshakeSchema, { componentId: id }) };
  }
}

/** A well-formed payload of a kind `subject` does not take. */
function wrongPayload(subject: ConsumedSubject): PacketPayload {
  if (subject === Subjects.jobSubmit) return rightPayload(Subjects.jobResult, poisonId());
  if (subject === Subjects.heartbeat) return rightPayload(Subjects.jobSubmit, poisonId());
  return { case: 'alert', value: create(SystemAlertSchema, { message: 'an alert where it does not belong' }) };
}

/** The payload of `subject` with its required id (job_id, worker_id, component_id) empty. */
const emptyId = (subject: ConsumedSubject) => rightPayload(subject, '');

/** Packets that are malformed only for one subject: semantic rules beyond the protobuf shape. */
function specificTo(subject: ConsumedSubject): { kind: string; packet: BusPacket }[] {
  const oversized = 'x'.repeat(OVERSIZED_ID_LENGTH);
  const jobSubjects: ConsumedSubject[] = [
    Subjects.jobSubmit,
    Subjects.jobResult,
    Subjects.jobCancel,
    Subjects.jobProgress,
  ];
  const out: { kind: string; packet: BusPacket }[] = [];
  if (jobSubjects.includes(subject))
    out.push({ kind: `job id of ${OVERSIZED_ID_LENGTH} chars`, packet: packet(rightPayload(subject, oversized)) });
  if (subject === Subjects.jobSubmit) {
    const request = (init: Parameters<typeof create<typeof JobRequestSchema>>[1]) =>
      packet({
        case: 'jobRequest',
        value: create(JobRequestSchema, { jobId: poisonId(), tenantId: 'faults', ...init }),
      });
    out.push(
      { kind: 'JobRequest without topic', packet: request({ topic: '' }) },
      { kind: 'JobRequest with topic sys.job.submit', packet: request({ topic: Subjects.jobSubmit }) },
      {
        kind: 'JobRequest with job id "../../etc/passwd"',
        packet: request({ topic: 'job.faults.poison', jobId: '../../etc/passwd' }),
      },
      { kind: 'JobRequest with tenant "a b.c"', packet: request({ topic: 'job.faults.poison', tenantId: 'a b.c' }) },
    );
  }
  if (subject === Subjects.jobResult)
    out.push({
      kind: 'JobResult without status',
      packet: packet({ case: 'jobResult', value: create(JobResultSchema, { jobId: poisonId(), workerId: SENDER }) }),
    });
  return out;
}

/**
 * The poison catalogue for one subject: garbage bytes, an empty message, JSON instead of protobuf, a truncated
 * packet, valid protobuf of the wrong payload kind, a packet without payload, protocol_version 999, the payload with
 * its required id empty, and the subject's own semantic violations (oversized or ill-formed job ids, a JobRequest
 * without topic or aimed at a `sys.` subject, a JobResult without status).
 */
export function poisonPacketsFor(subject: ConsumedSubject): PoisonPacket[] {
  const encoded = (kind: string, p: BusPacket): PoisonPacket => ({ subject, kind, data: encodePacket(p) });
  const good = encodePacket(packet(rightPayload(subject, poisonId())));
  // 0xff as the first byte is field 31, wire type 7: no protobuf decoder accepts it.
  const garbage = Buffer.concat([Buffer.from([0xff, 0xff]), randomBytes(62)]);
  return [
    { subject, kind: 'garbage bytes', data: garbage },
    { subject, kind: 'empty message', data: new Uint8Array(0) },
    {
      subject,
      kind: 'JSON instead of protobuf',
      data: Buffer.from(JSON.stringify({ job_id: poisonId(), topic: 'job.x' })),
    },
    // The payload is the packet's last field: cutting its last bytes leaves a length prefix pointing past the end.
    { subject, kind: 'truncated protobuf', data: good.subarray(0, good.length - 3) },
    encoded('valid protobuf of the wrong payload kind', packet(wrongPayload(subject))),
    encoded(
      'BusPacket without payload',
      create(BusPacketSchema, { traceId: newTraceId(), senderId: SENDER, protocolVersion: 1 }),
    ),
    encoded('protocol_version 999', packet(rightPayload(subject, poisonId()), { protocolVersion: 999 })),
    encoded('required id empty', packet(emptyId(subject))),
    ...specificTo(subject).map((s) => encoded(s.kind, s.packet)),
  ];
}

/** `n` distinct garbage payloads (random bytes that cannot decode) for `subject`: a flood of junk. */
export function garbageFlood(subject: ConsumedSubject, n: number): PoisonPacket[] {
  return Array.from({ length: n }, () => ({
    subject,
    kind: 'garbage flood',
    data: Buffer.concat([Buffer.from([0xff, 0xff]), randomBytes(14 + Math.floor(Math.random() * 500))]),
  }));
}
