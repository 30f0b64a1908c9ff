import { create, toBinary } from '@bufbuild/protobuf';
import { BusPacketSchema } from '@capstan/gen/cordum/agent/v1/buspacket_pb';
import { HeartbeatSchema } from '@capstan/gen/cordum/agent/v1/heartbeat_pb';
import { JobRequestSchema, JobResultSchema, JobStatus } from '@capstan/gen/cordum/agent/v1/job_pb';
import { describe, expect, it } from 'vitest';
import { createPacket, encodePacket, PROTOCOL_VERSION } from './packet.js';
import { parsePacket } from './validate-packet.js';

describe('parsePacket', () => {
  it('accepts a well-formed job request and fills the envelope', () => {
    const packet = createPacket(
      { case: 'jobRequest', value: create(JobRequestSchema, { jobId: 'j1', topic: 'job.echo' }) },
      { senderId: 'cli' },
    );
    expect(packet.protocolVersion).toBe(PROTOCOL_VERSION);
    expect(packet.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(packet.createdAt).toBeDefined();
    const parsed = parsePacket(encodePacket(packet), { expect: ['jobRequest'] });
    expect(parsed.ok).toBe(true);
  });

  it('rejects garbage bytes as MALFORMED_PACKET without throwing', () => {
    const parsed = parsePacket(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]));
    expect(parsed).toMatchObject({ ok: false, code: 'MALFORMED_PACKET', wireCode: '101' });
  });

  it('rejects a wrong protocol version', () => {
    const bytes = toBinary(
      BusPacketSchema,
      create(BusPacketSchema, {
        protocolVersion: 2,
        payload: { case: 'heartbeat', value: create(HeartbeatSchema, { workerId: 'w' }) },
      }),
    );
    expect(parsePacket(bytes)).toMatchObject({ ok: false, code: 'VERSION_MISMATCH' });
  });

  it('rejects an empty payload and an unexpected payload kind', () => {
    expect(parsePacket(toBinary(BusPacketSchema, create(BusPacketSchema, { protocolVersion: 1 })))).toMatchObject({
      ok: false,
      code: 'UNKNOWN_PAYLOAD',
    });
    const hb = createPacket(
      { case: 'heartbeat', value: create(HeartbeatSchema, { workerId: 'w' }) },
      { senderId: 'w' },
    );
    const parsed = parsePacket(encodePacket(hb), { expect: ['jobRequest'] });
    expect(parsed).toMatchObject({ ok: false, code: 'UNKNOWN_PAYLOAD' });
    expect(!parsed.ok && parsed.reason).toMatch(/expected jobRequest/);
  });

  it('names the missing required fields', () => {
    const req = createPacket({ case: 'jobRequest', value: create(JobRequestSchema, {}) }, { senderId: 'cli' });
    const parsed = parsePacket(encodePacket(req));
    expect(parsed).toMatchObject({ ok: false, code: 'MALFORMED_PACKET' });
    expect(!parsed.ok && parsed.reason).toContain('job_id, topic');
    const res = createPacket({ case: 'jobResult', value: create(JobResultSchema, { jobId: 'j' }) }, { senderId: 'w' });
    expect(parsePacket(encodePacket(res))).toMatchObject({ ok: false, reason: expect.stringContaining('status') });
    const ok = createPacket(
      { case: 'jobResult', value: create(JobResultSchema, { jobId: 'j', status: JobStatus.SUCCEEDED }) },
      { senderId: 'w' },
    );
    expect(parsePacket(encodePacket(ok)).ok).toBe(true);
  });
});
