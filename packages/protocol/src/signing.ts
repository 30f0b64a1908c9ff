import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { clone } from '@bufbuild/protobuf';
import { BinaryReader, BinaryWriter, type WireType } from '@bufbuild/protobuf/wire';
import { type BusPacket, BusPacketSchema } from '@capstan/gen/cordum/agent/v1/buspacket_pb';
import { toDeterministicBinary } from './deterministic.js';
import { capErrorString } from './error-codes.js';
import type { PacketRejection } from './validate-packet.js';

/** Signature algorithms Capstan accepts. ECDSA P-256 is what CAP SDKs use; Ed25519 is optional. */
export type SigningAlgorithm = 'ecdsa-p256' | 'ed25519';

const SIGNATURE_FIELD = 14;

/** Thrown when a key is not usable for packet signing. */
export class SigningKeyError extends Error {
  override name = 'SigningKeyError';
}

/** The algorithm a key belongs to, or a SigningKeyError naming what is supported. */
export function keyAlgorithm(key: KeyObject): SigningAlgorithm {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ecdsa-p256';
  throw new SigningKeyError(
    `unsupported signing key (${key.asymmetricKeyType ?? key.type}${key.asymmetricKeyDetails?.namedCurve ? ` ${key.asymmetricKeyDetails.namedCurve}` : ''}): expected an ECDSA P-256 or Ed25519 key`,
  );
}

/** The bytes a signature covers: the deterministic encoding of the packet with `signature` cleared. */
export function signingPayload(packet: BusPacket): Uint8Array {
  if (packet.signature.length === 0) return toDeterministicBinary(BusPacketSchema, packet);
  const unsigned = clone(BusPacketSchema, packet);
  unsigned.signature = new Uint8Array(0);
  return toDeterministicBinary(BusPacketSchema, unsigned);
}

/** Signs packets as one sender. */
export interface PacketSigner {
  /** The sender id packets are signed as (must equal their `sender_id`). */
  readonly senderId: string;
  readonly algorithm: SigningAlgorithm;
  /** Sets `signature` on the packet (in place) and returns it. */
  sign<P extends BusPacket>(packet: P): P;
}

/** Options for {@link createPacketSigner}. */
export interface PacketSignerOptions {
  /** Sender id the key belongs to. */
  senderId: string;
  /** Private key: a KeyObject or PEM text (PKCS#8 or SEC1). */
  privateKey: KeyObject | string;
}

/** Creates a signer: ECDSA P-256/SHA-256 with an ASN.1 DER signature (CAP-compatible), or Ed25519. */
export function createPacketSigner(opts: PacketSignerOptions): PacketSigner {
  const key = typeof opts.privateKey === 'string' ? createPrivateKey(opts.privateKey) : opts.privateKey;
  if (key.type !== 'private') throw new SigningKeyError('signing needs a private key');
  const algorithm = keyAlgorithm(key);
  return {
    senderId: opts.senderId,
    algorithm,
    sign(packet) {
      if (packet.senderId !== opts.senderId) {
        throw new SigningKeyError(
          `packet sender_id ${JSON.stringify(packet.senderId)} does not match signer ${JSON.stringify(opts.senderId)}`,
        );
      }
      const data = signingPayload(packet);
      packet.signature = new Uint8Array(
        algorithm === 'ed25519' ? sign(null, data, key) : sign('sha256', data, { key, dsaEncoding: 'der' }),
      );
      return packet;
    },
  };
}

/** Looks up the public key(s) of a sender; undefined when the sender is unknown. */
export type PublicKeyLookup = (senderId: string) => KeyObject | readonly KeyObject[] | undefined;

/** Options for {@link createPacketVerifier}. */
export interface PacketVerifierOptions {
  /** Public keys by sender id. A `Map` of PEM strings or KeyObjects also works. */
  keys: PublicKeyLookup | ReadonlyMap<string, KeyObject | string | readonly (KeyObject | string)[]>;
  /** Reject unsigned packets; @default true */
  requireSignatures?: boolean;
  /** Signed packets older than this, or seen before within it, are replays; @default 300000 (5 min) */
  replayWindowMs?: number;
  /** Tolerated clock skew for `created_at` in the future; @default 30000 */
  maxClockSkewMs?: number;
  /** Bound on remembered signatures (memory stays bounded under floods); @default 100000 */
  maxRememberedSignatures?: number;
  /** Clock, for tests; @default Date.now */
  now?: () => number;
}

/** Outcome of verifying one packet. */
export type PacketVerification = { ok: true; signed: boolean } | PacketRejection;

/** Verifies packet signatures with a replay window. */
export interface PacketVerifier {
  /**
   * Verifies `packet`. Pass the raw bytes it was decoded from when available: if the sender's encoding was not
   * deterministic, the signature is also checked against those bytes with field 14 removed.
   * `redelivery: true` (a JetStream redelivery of a packet we already saw) skips the duplicate check.
   * `storedAtMs` (when a JetStream stream stored the packet) is what its age is measured against: a packet that
   * waited in a stream (a consumer outage, a backlog) is not stale, while a replay re-published later is stored later
   * and still refused.
   */
  verify(packet: BusPacket, raw?: Uint8Array, opts?: { redelivery?: boolean; storedAtMs?: number }): PacketVerification;
}

function rejection(
  code: 'SIGNATURE_INVALID' | 'SIGNATURE_MISSING',
  reason: string,
  packet: BusPacket,
): PacketRejection {
  return { ok: false, code, wireCode: capErrorString(code), reason, packet };
}

/** Creates a verifier. */
export function createPacketVerifier(opts: PacketVerifierOptions): PacketVerifier {
  const requireSignatures = opts.requireSignatures ?? true;
  const windowMs = opts.replayWindowMs ?? 300_000;
  const skewMs = opts.maxClockSkewMs ?? 30_000;
  const maxSeen = opts.maxRememberedSignatures ?? 100_000;
  const now = opts.now ?? Date.now;
  const lookup = toLookup(opts.keys);
  // Insertion-ordered: oldest first, so expiry and the size bound both evict from the front.
  const seen = new Map<string, number>();

  const remember = (digest: string, at: number) => {
    for (const [k, t] of seen) {
      if (seen.size < maxSeen && t > at - windowMs) break;
      seen.delete(k);
    }
    seen.set(digest, at);
  };

  return {
    verify(packet, raw, vopts) {
      if (packet.signature.length === 0) {
        return requireSignatures
          ? rejection(
              'SIGNATURE_MISSING',
              `packet from ${JSON.stringify(packet.senderId)} is not signed and signatures are required`,
              packet,
            )
          : { ok: true, signed: false };
      }
      const found = lookup(packet.senderId);
      const keys = found === undefined ? [] : Array.isArray(found) ? found : [found as KeyObject];
      if (keys.length === 0) {
        return rejection(
          'SIGNATURE_INVALID',
          `no public key is configured for sender ${JSON.stringify(packet.senderId)}`,
          packet,
        );
      }
      const candidates = [signingPayload(packet)];
      if (raw) {
        const stripped = stripSignatureField(raw);
        if (stripped && Buffer.compare(stripped, candidates[0]!) !== 0) candidates.push(stripped);
      }
      const valid = keys.some((key) => candidates.some((data) => verifyWith(key, data, packet.signature)));
      if (!valid)
        return rejection(
          'SIGNATURE_INVALID',
          `signature of packet from ${JSON.stringify(packet.senderId)} does not verify`,
          packet,
        );

      const t = now();
      // When it reached the bus: the stream's timestamp for a packet that waited in one, else now.
      const arrived = vopts?.storedAtMs ?? t;
      const createdMs = packet.createdAt
        ? Number(packet.createdAt.seconds) * 1000 + Math.floor(packet.createdAt.nanos / 1e6)
        : 0;
      if (createdMs === 0)
        return rejection('SIGNATURE_INVALID', 'signed packet has no created_at, so replays cannot be detected', packet);
      if (createdMs < arrived - windowMs) {
        return rejection(
          'SIGNATURE_INVALID',
          `signed packet is older than the ${windowMs} ms replay window (created ${new Date(createdMs).toISOString()})`,
          packet,
        );
      }
      if (createdMs > arrived + skewMs) {
        return rejection(
          'SIGNATURE_INVALID',
          `signed packet is from the future (created ${new Date(createdMs).toISOString()}); check the sender's clock`,
          packet,
        );
      }
      const digest = createHash('sha256').update(packet.signature).digest('base64');
      if (seen.has(digest) && !vopts?.redelivery) {
        return rejection(
          'SIGNATURE_INVALID',
          `replayed packet from ${JSON.stringify(packet.senderId)}: this signature was already accepted`,
          packet,
        );
      }
      remember(digest, t);
      return { ok: true, signed: true };
    },
  };
}

function verifyWith(key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return keyAlgorithm(key) === 'ed25519'
      ? verify(null, data, key, signature)
      : verify('sha256', data, { key, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}

function toLookup(keys: PacketVerifierOptions['keys']): PublicKeyLookup {
  if (typeof keys === 'function') return keys;
  const resolved = new Map<string, KeyObject[]>();
  for (const [sender, value] of keys) {
    const list = (Array.isArray(value) ? value : [value]) as (KeyObject | string)[];
    resolved.set(
      sender,
      list.map((k) => (typeof k === 'string' ? createPublicKey(k) : k.type === 'private' ? createPublicKey(k) : k)),
    );
  }
  return (sender) => resolved.get(sender);
}

/** The raw packet bytes with every top-level field 14 removed; undefined if the bytes don't parse. */
export function stripSignatureField(raw: Uint8Array): Uint8Array | undefined {
  try {
    const reader = new BinaryReader(raw);
    const writer = new BinaryWriter();
    while (reader.pos < reader.len) {
      const start = reader.pos;
      const [no, wireType] = reader.tag();
      reader.skip(wireType as WireType, no);
      if (no !== SIGNATURE_FIELD) writer.raw(raw.subarray(start, reader.pos));
    }
    return writer.finish();
  } catch {
    return undefined;
  }
}
