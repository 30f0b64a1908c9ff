import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigFileError, readConfigFile, type SignatureConfig } from '@capstan/config';
import {
  createPacketSigner,
  createPacketVerifier,
  keyAlgorithm,
  type PacketSigner,
  type PacketVerifier,
  SigningKeyError,
} from '@capstan/protocol';

/** Thrown when the signature settings or the key files they name cannot be used. Names the variable and the fix. */
export class SignatureConfigError extends Error {
  override readonly name = 'SignatureConfigError';
}

/** Options for {@link createPacketSecurity}: the loaded `signatures` config group plus the service's identity. */
export interface PacketSecurityOptions extends SignatureConfig {
  /** The service's sender id on the bus (the `senderId` given to `createBus`); its own packets are signed as it. */
  senderId: string;
}

/** What {@link createPacketSecurity} builds: pass both straight to `createBus({ signer, verifier })`. */
export interface PacketSecurity {
  /** Signs what this service publishes; undefined when no signing key is configured. */
  signer?: PacketSigner;
  /** Verifies what this service consumes; undefined when nothing is to be verified (no keys, not required). */
  verifier?: PacketVerifier;
  /** Sender ids with at least one trusted key (including the service itself when it signs), sorted. */
  trustedSenders: string[];
}

/**
 * Builds the packet signer and verifier a service gets from its `signatures` config:
 * - `signingKeyFile` set → a signer for `senderId`, and the key's public half is trusted for `senderId` (a scheduler
 *   hears its own forwarded cancels on `sys.job.cancel`);
 * - `trustedKeysFile` set → a verifier: signed packets must verify against their sender's keys; unsigned ones are
 *   rejected when `requireSignatures`, accepted otherwise (a migration mode);
 * - `requireSignatures` without both files is refused: Capstan could neither accept anything nor sign what it
 *   publishes, and verifying CAP workers would drop its dispatches.
 * @throws {SignatureConfigError} naming the variable, the file and what is expected.
 */
export function createPacketSecurity(options: PacketSecurityOptions): PacketSecurity {
  const { requireSignatures, trustedKeysFile, signingKeyFile, senderId } = options;
  if (requireSignatures && !trustedKeysFile) {
    throw new SignatureConfigError(
      'CAPSTAN_REQUIRE_SIGNATURES=true needs CAPSTAN_TRUSTED_KEYS: the path of a YAML or JSON file mapping sender ids ' +
        'to PEM public keys (without it every packet would be rejected)',
    );
  }
  if (requireSignatures && !signingKeyFile) {
    throw new SignatureConfigError(
      'CAPSTAN_REQUIRE_SIGNATURES=true needs CAPSTAN_SIGNING_KEY_FILE: the PEM private key this service signs its own ' +
        'packets with (workers that verify would drop unsigned dispatches, and its own cancels would be rejected)',
    );
  }
  const trusted = trustedKeysFile ? readTrustedKeys(trustedKeysFile) : new Map<string, KeyObject[]>();
  let signer: PacketSigner | undefined;
  if (signingKeyFile) {
    const privateKey = readSigningKey(signingKeyFile);
    signer = createPacketSigner({ senderId, privateKey });
    const own = createPublicKey(privateKey);
    trusted.set(senderId, [...(trusted.get(senderId) ?? []), own]);
  }
  const verifier =
    trustedKeysFile || requireSignatures
      ? createPacketVerifier({
          keys: trusted,
          requireSignatures,
          replayWindowMs: options.replayWindowMs,
        })
      : undefined;
  return {
    ...(signer ? { signer } : {}),
    ...(verifier ? { verifier } : {}),
    trustedSenders: [...trusted.keys()].sort(),
  };
}

/**
 * Reads a trusted-keys file: a YAML or JSON mapping of sender id → PEM public key, or → a list of PEM public keys
 * (old and new key during a rotation). Every key must be ECDSA P-256 or Ed25519.
 *
 * @example
 * # trusted-keys.yaml
 * billing-worker-1: |
 *   -----BEGIN PUBLIC KEY-----
 *   MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE...
 *   -----END PUBLIC KEY-----
 * @throws {SignatureConfigError} naming the file, the sender id and what is wrong.
 */
export function readTrustedKeys(path: string): Map<string, KeyObject[]> {
  let entries: Record<string, unknown>;
  try {
    entries = readConfigFile(path);
  } catch (error) {
    if (!(error instanceof ConfigFileError)) throw error;
    throw new SignatureConfigError(
      `CAPSTAN_TRUSTED_KEYS=${JSON.stringify(path)} cannot be used: ${error.message}; expected a YAML or JSON file ` +
        'mapping sender ids to PEM public keys',
      { cause: error },
    );
  }
  const keys = new Map<string, KeyObject[]>();
  for (const [sender, value] of Object.entries(entries)) {
    const where = `CAPSTAN_TRUSTED_KEYS=${JSON.stringify(path)}, sender ${JSON.stringify(sender)}`;
    const pems = typeof value === 'string' ? [value] : Array.isArray(value) ? value : undefined;
    if (!pems || pems.length === 0 || pems.some((pem) => typeof pem !== 'string')) {
      throw new SignatureConfigError(
        `${where}: expected a PEM public key or a non-empty list of PEM public keys, got ${describe(value)}`,
      );
    }
    keys.set(
      sender,
      (pems as string[]).map((pem, index) =>
        parsePublicKey(pem, pems.length > 1 ? `${where}, key #${index + 1}` : where),
      ),
    );
  }
  if (keys.size === 0) {
    throw new SignatureConfigError(
      `CAPSTAN_TRUSTED_KEYS=${JSON.stringify(path)} lists no sender: expected a mapping such as "client-1: <PEM public key>"`,
    );
  }
  return keys;
}

/**
 * Reads a PEM private key (PKCS#8 or SEC1) for signing; it must be ECDSA P-256 or Ed25519.
 * @throws {SignatureConfigError} naming the file and what is wrong.
 */
export function readSigningKey(path: string): KeyObject {
  const where = `CAPSTAN_SIGNING_KEY_FILE=${JSON.stringify(path)}`;
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new SignatureConfigError(
      `${where} cannot be read (${code === 'ENOENT' ? 'the file does not exist' : (code ?? String(error))}); expected a PEM private key file`,
      { cause: error },
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    throw new SignatureConfigError(
      `${where} is not a PEM private key (${(error as Error).message}); expected "-----BEGIN PRIVATE KEY-----" ` +
        '(PKCS#8) or "-----BEGIN EC PRIVATE KEY-----" (SEC1), e.g. from `openssl ecparam -name prime256v1 -genkey -noout`',
      { cause: error },
    );
  }
  checkAlgorithm(key, where);
  return key;
}

function parsePublicKey(pem: string, where: string): KeyObject {
  // createPublicKey would quietly derive the public half of a private key; a private key in a trust file is a leak.
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new SignatureConfigError(`${where}: is a private key; put only the public key (SPKI PEM) in this file`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (error) {
    throw new SignatureConfigError(
      `${where}: not a PEM public key (${(error as Error).message}); expected "-----BEGIN PUBLIC KEY-----" (SPKI)`,
      { cause: error },
    );
  }
  checkAlgorithm(key, where);
  return key;
}

function checkAlgorithm(key: KeyObject, where: string): void {
  try {
    keyAlgorithm(key);
  } catch (error) {
    if (!(error instanceof SigningKeyError)) throw error;
    throw new SignatureConfigError(`${where}: ${error.message}`, { cause: error });
  }
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list with a non-string entry';
  return `a ${typeof value}`;
}
