import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

/** An ECDSA P-256 key pair written as PEM files, as the SDKs and Capstan read them. */
export interface KeyFiles {
  /** PKCS#8 private key. */
  privateKey: string;
  /** SPKI public key. */
  publicKey: string;
  /** The public key's PEM text. */
  publicPem: string;
}

/** Creates a directory of P-256 key pairs, one per identity, plus trusted-keys files mapping ids to public keys. */
export function createKeyRing(identities: readonly string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-interop-keys-'));
  const keys: Record<string, KeyFiles> = {};
  for (const id of identities) {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const privateKey = join(dir, `${id}.key.pem`);
    const publicKey = join(dir, `${id}.pub.pem`);
    const publicPem = pair.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    writeFileSync(privateKey, pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), { mode: 0o600 });
    writeFileSync(publicKey, publicPem);
    keys[id] = { privateKey, publicKey, publicPem };
  }
  return {
    dir,
    keys,
    /** Writes a CAPSTAN_TRUSTED_KEYS file (YAML: sender id → PEM public key) for `senders`. */
    trustedKeysFile(name: string, senders: readonly string[]): string {
      const path = join(dir, `${name}.yaml`);
      writeFileSync(path, stringify(Object.fromEntries(senders.map((s) => [s, keys[s]!.publicPem]))));
      return path;
    },
  };
}
