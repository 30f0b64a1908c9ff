import { z } from 'zod';
import { field, type InferConfig } from './config-field.js';
import { parseBooleanEnv, parseIntegerEnv } from './env-parsers.js';

/** Default replay window for signed packets (matches `createPacketVerifier`'s default in @capstan/protocol). */
export const DEFAULT_SIGNATURE_REPLAY_WINDOW_MS = 300_000;

/**
 * Packet signature settings shared by every Capstan service that talks CAP on the bus (ECDSA P-256 over the
 * deterministic encoding, as the CAP SDKs sign; Ed25519 keys work too). Add the group to a service's spec as
 * `signatures: signatureConfigSpec` and turn the loaded values into a signer and verifier with
 * `createPacketSecurity` from @capstan/bus.
 */
export const signatureConfigSpec = {
  requireSignatures: field({
    env: 'CAPSTAN_REQUIRE_SIGNATURES',
    key: 'signatures.require',
    default: false,
    schema: z.boolean(),
    fromEnv: parseBooleanEnv,
    expected: 'true or false',
    doc:
      'Reject every unsigned packet (dead-lettered with code 104 SIGNATURE_MISSING). Needs CAPSTAN_TRUSTED_KEYS and ' +
      'CAPSTAN_SIGNING_KEY_FILE. When false, signed packets from senders listed in CAPSTAN_TRUSTED_KEYS are still verified.',
  }),
  trustedKeysFile: field({
    env: 'CAPSTAN_TRUSTED_KEYS',
    key: 'signatures.trustedKeysFile',
    default: '',
    schema: z.string(),
    expected: 'a path to a YAML or JSON file mapping sender ids to PEM public keys, or empty for none',
    doc:
      'Public keys of the senders whose packets are accepted: `<sender_id>: <PEM>` or `<sender_id>: [<PEM>, ...]` ' +
      '(several keys for a rotation). Read once at startup.',
  }),
  signingKeyFile: field({
    env: 'CAPSTAN_SIGNING_KEY_FILE',
    key: 'signatures.signingKeyFile',
    default: '',
    schema: z.string(),
    expected: 'a path to a PEM private key (PKCS#8 or SEC1, ECDSA P-256 or Ed25519), or empty to publish unsigned',
    doc:
      "This service's own key: every packet it publishes is signed with it, and its public half is trusted for the " +
      "service's own sender id. CAP workers that verify need this public key under the service's sender id.",
  }),
  replayWindowMs: field({
    env: 'CAPSTAN_SIGNATURE_REPLAY_WINDOW_MS',
    key: 'signatures.replayWindowMs',
    default: DEFAULT_SIGNATURE_REPLAY_WINDOW_MS,
    schema: z.number().int().min(1000),
    fromEnv: parseIntegerEnv,
    expected: 'milliseconds ≥ 1000',
    doc: 'Signed packets older than this (by created_at), or seen before within it, are rejected as replays.',
  }),
} as const;

/** Loaded packet signature settings (the `signatures` group of a service config). */
export type SignatureConfig = InferConfig<typeof signatureConfigSpec>;
