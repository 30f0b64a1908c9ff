/**
 * Golden wire vectors: proves Capstan's CAP encoding agrees with an independent protobuf implementation (protoc,
 * i.e. the C++ runtime) in both directions. The .bin fixtures are protoc's output, never Capstan's; see README.md.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { equals, fromBinary, toJson } from '@bufbuild/protobuf';
import { type BusPacket, BusPacketSchema } from '@capstan/gen/cordum/agent/v1/buspacket_pb';
import {
  encodePacket,
  parsePacket,
  signingPayload,
  stripSignatureField,
  toDeterministicBinary,
} from '@capstan/protocol';
import { describe, expect, it } from 'vitest';
import { ALL_VECTORS, type GoldenVector, PACKET_VECTORS } from './golden-vectors.js';
import { PROTOC_INSTALL_HINT, protocDecode, protocEncode, protocVersion } from './protoc.js';

const VECTORS_DIR = fileURLToPath(new URL('./vectors/', import.meta.url));

function readText(name: string): string {
  return readFileSync(`${VECTORS_DIR}${name}.txtpb`, 'utf8');
}

function readBin(name: string): Uint8Array {
  return new Uint8Array(readFileSync(`${VECTORS_DIR}${name}.bin`));
}

/** Hex keeps byte mismatches readable in a failure diff (a Uint8Array diff prints one element per line). */
function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function decodeVector(v: GoldenVector): ReturnType<GoldenVector['build']> {
  return fromBinary(v.schema, readBin(v.name));
}

/** The .txtpb with its single top-level `signature:` line removed (what a signer covers). */
function withoutSignatureLine(text: string): string {
  const lines = text.split('\n');
  const kept = lines.filter((line) => !line.startsWith('signature:'));
  if (lines.length - kept.length !== 1) {
    throw new Error(
      `expected exactly one top-level "signature:" line in the vector, found ${lines.length - kept.length}`,
    );
  }
  return kept.join('\n');
}

describe('protoc (the independent implementation)', () => {
  it(`is installed (otherwise: ${PROTOC_INSTALL_HINT})`, () => {
    expect(protocVersion()).toMatch(/^libprotoc \d+\.\d+/);
  });
});

describe.each(ALL_VECTORS)('golden vector $name', (vector) => {
  const { name, schema } = vector;
  const typeName = schema.typeName;

  it('declares its message type in a "# proto-message:" header', () => {
    expect(readText(name)).toMatch(new RegExp(`^# proto-message: ${typeName.replaceAll('.', '\\.')}$`, 'm'));
  });

  it('.bin is exactly protoc --encode --deterministic_output of the .txtpb (else run test/golden/regenerate.sh)', () => {
    expect(hexOf(protocEncode(typeName, readText(name)))).toBe(hexOf(readBin(name)));
  });

  it('.bin decodes with protobuf-es into the message built in TypeScript', () => {
    const decoded = decodeVector(vector);
    const expected = vector.build();
    // toJson first: on a mismatch its diff names the field; equals then checks what JSON cannot (e.g. float bits).
    expect(toJson(schema, decoded)).toEqual(toJson(schema, expected));
    expect(equals(schema, decoded, expected)).toBe(true);
  });

  it("Capstan's toDeterministicBinary of the decoded message equals the .bin byte for byte", () => {
    expect(hexOf(toDeterministicBinary(schema, decodeVector(vector)))).toBe(hexOf(readBin(name)));
  });

  it("Capstan's toDeterministicBinary of the TS-built message (maps inserted out of order) equals the .bin", () => {
    expect(hexOf(toDeterministicBinary(schema, vector.build()))).toBe(hexOf(readBin(name)));
  });

  it("protoc decodes Capstan's encoding of the TS-built message to the .txtpb's message", () => {
    const text = protocDecode(typeName, toDeterministicBinary(schema, vector.build()));
    // protoc --decode prints canonical text; re-encoding it deterministically normalizes away formatting.
    expect(hexOf(protocEncode(typeName, text))).toBe(hexOf(readBin(name)));
  });
});

describe.each(PACKET_VECTORS)('golden packet $name', (vector) => {
  const { name } = vector;

  it('parsePacket accepts the .bin as a valid CAP packet of the expected payload', () => {
    const parsed = parsePacket(readBin(name));
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.packet.protocolVersion).toBe(1);
    expect(equals(BusPacketSchema, parsed.packet, vector.build() as BusPacket)).toBe(true);
  });

  it("protoc decodes encodePacket's (non-deterministic) output to the .txtpb's message", () => {
    const text = protocDecode(BusPacketSchema.typeName, encodePacket(vector.build() as BusPacket));
    expect(hexOf(protocEncode(BusPacketSchema.typeName, text))).toBe(hexOf(readBin(name)));
  });

  it("signingPayload equals protoc's encoding of the packet with its signature line removed", () => {
    const unsigned = protocEncode(BusPacketSchema.typeName, withoutSignatureLine(readText(name)));
    const decoded = decodeVector(vector) as BusPacket;
    expect(decoded.signature.length).toBeGreaterThan(0);
    expect(hexOf(signingPayload(decoded))).toBe(hexOf(unsigned));
    expect(hexOf(signingPayload(vector.build() as BusPacket))).toBe(hexOf(unsigned));
    // The raw-bytes fallback verifiers use for non-deterministic senders must agree too.
    expect(hexOf(stripSignatureField(readBin(name)) ?? new Uint8Array())).toBe(hexOf(unsigned));
  });
});

describe('golden vector spot checks', () => {
  const utf8 = new TextEncoder();

  it('job_request carries every tricky value as written in the .txtpb', () => {
    const packet = decodeVector(PACKET_VECTORS[0]!) as BusPacket;
    expect(packet.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(packet.createdAt?.seconds).toBe(1767225600n);
    expect(packet.createdAt?.nanos).toBe(123456789);
    expect(packet.authToken).toBe('bearer-token-gateway-1');
    expect(packet.signature.length).toBe(70);
    expect([packet.signature[0], packet.signature[4], packet.signature[69]]).toEqual([0x30, 0x00, 0xdf]);
    expect(packet.payload.case).toBe('jobRequest');
    if (packet.payload.case !== 'jobRequest') return;
    const req = packet.payload.value;
    expect(req.budget?.maxTotalTokens).toBe(9223372036854775807n);
    expect(req.budget?.maxOutputTokens).toBe(9007199254740993n);
    expect(req.env).toEqual({
      ZONE: 'eu-west-1',
      région: 'île-de-france',
      MODEL: 'gpt-4o-mini',
      '🚀': 'launch',
      ｶ: 'halfwidth katakana',
      EMPTY: '',
    });
    expect(req.labels['10']).toBe('ten');
    expect(req.labels.ключ).toBe('значение');
    expect(req.meta?.labels['☃']).toBe('snowman');
    expect(req.compensation?.meta?.actorType).toBe(2);
    expect(req.compensation?.env.ÉTAPE).toBe('retour');
    expect(req.contextHints?.tags).toEqual(['support', 'vip', '日本語']);
  });

  it('the .bin orders map keys by UTF-8 bytes, where JavaScript string order would differ', () => {
    const bin = Buffer.from(readBin('job_request'));
    const at = (key: string) => bin.indexOf(Buffer.from(utf8.encode(key)));
    // UTF-8: EF BD B6 (ｶ) < F0 9F 9A 80 (🚀); UTF-16 code units: 0xFF76 > 0xD83D, so a JS sort puts 🚀 first.
    expect(at('ｶ')).toBeLessThan(at('🚀'));
    expect(['ｶ', '🚀'].sort()).toEqual(['🚀', 'ｶ']);
    // "10" < "9" by bytes, while JavaScript objects iterate integer-like keys numerically ("9" first).
    const entry = (k: string, v: string) =>
      Buffer.from([0x0a, k.length, ...Buffer.from(k), 0x12, v.length, ...Buffer.from(v)]);
    expect(bin.indexOf(entry('10', 'ten'))).toBeGreaterThan(-1);
    expect(bin.indexOf(entry('10', 'ten'))).toBeLessThan(bin.indexOf(entry('9', 'nine')));
  });

  it("the TS-built maps really are inserted out of wire order (so the byte equality proves Capstan's sorting)", () => {
    const built = PACKET_VECTORS[0]!.build() as BusPacket;
    const decoded = decodeVector(PACKET_VECTORS[0]!) as BusPacket;
    if (built.payload.case !== 'jobRequest' || decoded.payload.case !== 'jobRequest')
      throw new Error('not a job_request');
    expect(Object.keys(built.payload.value.env)).not.toEqual(Object.keys(decoded.payload.value.env));
    expect(Object.keys(built.payload.value.labels).slice(0, 2)).toEqual(['9', '10']);
  });

  it('heartbeat floats, handshake bool map and job_result status decode to the written values', () => {
    const hb = decodeVector(PACKET_VECTORS[2]!) as BusPacket;
    if (hb.payload.case !== 'heartbeat') throw new Error(`expected heartbeat, got ${hb.payload.case}`);
    expect([hb.payload.value.cpuLoad, hb.payload.value.gpuUtilization, hb.payload.value.memoryLoad]).toEqual([
      42.5, 87.25, 63.75,
    ]);
    expect(hb.payload.value.progressPct).toBe(55);
    expect(hb.payload.value.agentName).toBe('Frankfurt GPU worker №3');

    const hs = decodeVector(PACKET_VECTORS[6]!) as BusPacket;
    if (hs.payload.case !== 'handshake') throw new Error(`expected handshake, got ${hs.payload.case}`);
    expect(hs.payload.value.capabilities).toEqual({
      cancel: true,
      compensation: false,
      direct_dispatch: false,
      heartbeats: true,
      progress: true,
      signatures: true,
    });
    expect(hs.payload.value.supportedVersions).toEqual([1, 2]);

    const jr = decodeVector(PACKET_VECTORS[1]!) as BusPacket;
    if (jr.payload.case !== 'jobResult') throw new Error(`expected jobResult, got ${jr.payload.case}`);
    expect(jr.payload.value.status).toBe(10);
  });
});
