import { generateKeyPairSync, sign } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import { BusPacketSchema } from '@capstan/gen/cordum/agent/v1/buspacket_pb';
import { JobRequestSchema } from '@capstan/gen/cordum/agent/v1/job_pb';
import { describe, expect, it } from 'vitest';
import { createPacket, decodePacket, encodePacket } from './packet.js';
import { createPacketSigner, createPacketVerifier, signingPayload, stripSignatureField } from './signing.js';

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');

function request(senderId = 'worker-a', createdAtMs?: number) {
  return createPacket(
    {
      case: 'jobRequest',
      value: create(JobRequestSchema, {
        jobId: 'job-1',
        topic: 'job.echo',
        env: { zeta: '1', alpha: '2', é: '3' },
        labels: { b: 'x', a: 'y' },
      }),
    },
    createdAtMs === undefined ? { senderId } : { senderId, createdAtMs },
  );
}

describe('packet signing', () => {
  it('signs with ECDSA P-256 (DER) and verifies after a wire round trip', () => {
    const signer = createPacketSigner({ senderId: 'worker-a', privateKey: ec.privateKey });
    expect(signer.algorithm).toBe('ecdsa-p256');
    const packet = signer.sign(request());
    // DER-encoded ECDSA signatures start with a SEQUENCE tag.
    expect(packet.signature[0]).toBe(0x30);
    const bytes = encodePacket(packet);
    const verifier = createPacketVerifier({ keys: new Map([['worker-a', ec.publicKey]]) });
    expect(verifier.verify(decodePacket(bytes), bytes)).toEqual({ ok: true, signed: true });
  });

  it('signs with Ed25519', () => {
    const signer = createPacketSigner({
      senderId: 'worker-a',
      privateKey: ed.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
    });
    expect(signer.algorithm).toBe('ed25519');
    const packet = signer.sign(request());
    const verifier = createPacketVerifier({
      keys: new Map([['worker-a', ed.publicKey.export({ format: 'pem', type: 'spki' }) as string]]),
    });
    expect(verifier.verify(packet).ok).toBe(true);
  });

  it('rejects a tampered packet', () => {
    const packet = createPacketSigner({ senderId: 'worker-a', privateKey: ec.privateKey }).sign(request());
    if (packet.payload.case === 'jobRequest') packet.payload.value.topic = 'job.rm-rf';
    const result = createPacketVerifier({ keys: new Map([['worker-a', ec.publicKey]]) }).verify(packet);
    expect(result).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID', wireCode: '103' });
  });

  it('rejects a packet signed by another key than the sender’s', () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const packet = createPacketSigner({ senderId: 'worker-a', privateKey: other.privateKey }).sign(request());
    expect(createPacketVerifier({ keys: new Map([['worker-a', ec.publicKey]]) }).verify(packet)).toMatchObject({
      ok: false,
      code: 'SIGNATURE_INVALID',
    });
  });

  it('rejects unsigned packets when signatures are required, accepts them otherwise', () => {
    const keys = new Map([['worker-a', ec.publicKey]]);
    expect(createPacketVerifier({ keys }).verify(request())).toMatchObject({
      ok: false,
      code: 'SIGNATURE_MISSING',
      wireCode: '104',
    });
    expect(createPacketVerifier({ keys, requireSignatures: false }).verify(request())).toEqual({
      ok: true,
      signed: false,
    });
  });

  it('rejects unknown senders', () => {
    const packet = createPacketSigner({ senderId: 'ghost', privateKey: ec.privateKey }).sign(request('ghost'));
    const result = createPacketVerifier({ keys: new Map([['worker-a', ec.publicKey]]) }).verify(packet);
    expect(result).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
    expect(!result.ok && result.reason).toMatch(/no public key/);
  });

  it('rejects replays within the window and stale packets outside it', () => {
    let now = 1_700_000_000_000;
    const verifier = createPacketVerifier({
      keys: new Map([['worker-a', ec.publicKey]]),
      replayWindowMs: 60_000,
      now: () => now,
    });
    const signer = createPacketSigner({ senderId: 'worker-a', privateKey: ec.privateKey });
    const packet = signer.sign(request('worker-a', now));
    expect(verifier.verify(packet).ok).toBe(true);
    const replay = verifier.verify(packet);
    expect(replay).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
    expect(!replay.ok && replay.reason).toMatch(/replayed/);
    // A JetStream redelivery of the same packet is not a replay attack.
    expect(verifier.verify(packet, undefined, { redelivery: true }).ok).toBe(true);
    now += 61_000;
    const stale = verifier.verify(signer.sign(request('worker-a', now - 61_000)));
    expect(!stale.ok && stale.reason).toMatch(/older than/);
    const future = verifier.verify(signer.sign(request('worker-a', now + 3_600_000)));
    expect(!future.ok && future.reason).toMatch(/future/);
  });

  it('measures the age of a packet that waited in a stream against when the stream stored it', () => {
    const now = 1_700_000_000_000;
    const verifier = createPacketVerifier({
      keys: new Map([['worker-a', ec.publicKey]]),
      replayWindowMs: 60_000,
      now: () => now,
    });
    const signer = createPacketSigner({ senderId: 'worker-a', privateKey: ec.privateKey });
    const created = now - 10 * 60_000; // submitted ten minutes ago, during a scheduler outage
    const waited = signer.sign(request('worker-a', created));
    expect(verifier.verify(waited, undefined, { storedAtMs: created + 20 }).ok).toBe(true);
    // The same old packet published again now (a replay) is stored now: still stale.
    const replayed = verifier.verify(signer.sign(request('worker-a', created)), undefined, { storedAtMs: now });
    expect(!replayed.ok && replayed.reason).toMatch(/older than/);
    // Without a stream timestamp the age counts to now.
    const core = verifier.verify(signer.sign(request('worker-a', created)));
    expect(!core.ok && core.reason).toMatch(/older than/);
  });

  it('covers the deterministic encoding: map insertion order does not change the signature input', () => {
    const a = request();
    const b = request();
    if (b.payload.case === 'jobRequest') b.payload.value.env = { é: '3', alpha: '2', zeta: '1' };
    b.createdAt = a.createdAt;
    b.traceId = a.traceId;
    expect(Buffer.from(signingPayload(a)).equals(Buffer.from(signingPayload(b)))).toBe(true);
    expect(Buffer.from(toBinary(BusPacketSchema, a)).equals(Buffer.from(toBinary(BusPacketSchema, b)))).toBe(false);
  });

  it('verifies against the raw bytes when the sender encoded maps in a non-deterministic order', () => {
    // Simulate a sender that signed its own (non-sorted) encoding: sign over toBinary of the unsorted packet.
    const packet = request();
    const unsortedBytes = toBinary(BusPacketSchema, packet);
    packet.signature = new Uint8Array(sign('sha256', unsortedBytes, { key: ec.privateKey, dsaEncoding: 'der' }));
    const wire = toBinary(BusPacketSchema, packet);
    expect(Buffer.from(stripSignatureField(wire)!).equals(Buffer.from(unsortedBytes))).toBe(true);
    const verifier = createPacketVerifier({ keys: new Map([['worker-a', ec.publicKey]]) });
    expect(verifier.verify(decodePacket(wire), wire).ok).toBe(true);
  });

  it('refuses keys of other curves', () => {
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    expect(() => createPacketSigner({ senderId: 'x', privateKey: k1.privateKey })).toThrow(/ECDSA P-256 or Ed25519/);
  });
});
