import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { HeartbeatSchema } from '@capstan/gen/cordum/agent/v1/heartbeat_pb';
import { createPacket, createPacketSigner, encodePacket } from '@capstan/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createPacketSecurity,
  type PacketSecurityOptions,
  readSigningKey,
  readTrustedKeys,
  SignatureConfigError,
} from './packet-security.js';

const dir = mkdtempSync(join(tmpdir(), 'capstan-packet-security-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const pem = (key: KeyObject, type: 'spki' | 'pkcs8' | 'sec1') =>
  key.export({ format: 'pem', type } as Parameters<KeyObject['export']>[0]) as string;

const worker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const workerNext = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const scheduler = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const edClient = generateKeyPairSync('ed25519');
const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });

const indent = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
const trustedYaml = file(
  'trusted.yaml',
  `# sender id: PEM public key, or a list during a rotation
worker-1:
  - |
${indent(pem(worker.publicKey, 'spki'))}
  - |
${indent(pem(workerNext.publicKey, 'spki'))}
ed-client: ${JSON.stringify(pem(edClient.publicKey, 'spki'))}
`,
);
const schedulerKey = file('scheduler.pem', pem(scheduler.privateKey, 'sec1'));

function heartbeat(senderId: string, sign?: KeyObject) {
  const packet = createPacket(
    { case: 'heartbeat', value: create(HeartbeatSchema, { workerId: senderId }) },
    { senderId },
  );
  return sign ? createPacketSigner({ senderId, privateKey: sign }).sign(packet) : packet;
}

function options(patch: Partial<PacketSecurityOptions>): PacketSecurityOptions {
  return {
    senderId: 'scheduler-1',
    requireSignatures: false,
    trustedKeysFile: '',
    signingKeyFile: '',
    replayWindowMs: 300_000,
    ...patch,
  };
}

describe('createPacketSecurity', () => {
  it('builds nothing when signatures are not configured (traffic stays as it is)', () => {
    expect(createPacketSecurity(options({}))).toEqual({ trustedSenders: [] });
  });

  it('requires signatures: trusted senders (every key of a rotation) and itself pass, unsigned and unknown fail', () => {
    const security = createPacketSecurity(
      options({ requireSignatures: true, trustedKeysFile: trustedYaml, signingKeyFile: schedulerKey }),
    );
    expect(security.trustedSenders).toEqual(['ed-client', 'scheduler-1', 'worker-1']);
    const verifier = security.verifier!;
    const check = (p: ReturnType<typeof heartbeat>) => verifier.verify(p, encodePacket(p));
    expect(check(heartbeat('worker-1', worker.privateKey))).toEqual({ ok: true, signed: true });
    expect(check(heartbeat('worker-1', workerNext.privateKey))).toEqual({ ok: true, signed: true });
    expect(check(heartbeat('ed-client', edClient.privateKey))).toEqual({ ok: true, signed: true });
    // Its own packets (e.g. the cancels it forwards on sys.job.cancel) verify with the signing key's public half.
    expect(check(security.signer!.sign(heartbeat('scheduler-1')))).toEqual({ ok: true, signed: true });
    expect(check(heartbeat('worker-1'))).toMatchObject({ ok: false, code: 'SIGNATURE_MISSING', wireCode: '104' });
    expect(check(heartbeat('worker-1', scheduler.privateKey))).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
    expect(check(heartbeat('stranger', worker.privateKey))).toMatchObject({
      ok: false,
      code: 'SIGNATURE_INVALID',
      reason: expect.stringContaining('no public key is configured for sender "stranger"'),
    });
    expect(security.signer).toMatchObject({ senderId: 'scheduler-1', algorithm: 'ecdsa-p256' });
  });

  it('verifies signed packets but lets unsigned ones through when signatures are not required', () => {
    const { verifier, signer } = createPacketSecurity(options({ trustedKeysFile: trustedYaml }));
    expect(signer).toBeUndefined();
    const unsigned = heartbeat('worker-1');
    expect(verifier!.verify(unsigned, encodePacket(unsigned))).toEqual({ ok: true, signed: false });
    const forged = heartbeat('worker-1', edClient.privateKey);
    expect(verifier!.verify(forged, encodePacket(forged))).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
  });

  it('refuses to require signatures without trusted keys or without its own signing key', () => {
    expect(() => createPacketSecurity(options({ requireSignatures: true, signingKeyFile: schedulerKey }))).toThrow(
      /CAPSTAN_REQUIRE_SIGNATURES=true needs CAPSTAN_TRUSTED_KEYS/,
    );
    expect(() => createPacketSecurity(options({ requireSignatures: true, trustedKeysFile: trustedYaml }))).toThrow(
      /CAPSTAN_REQUIRE_SIGNATURES=true needs CAPSTAN_SIGNING_KEY_FILE/,
    );
  });
});

describe('readTrustedKeys', () => {
  it('reads JSON too', () => {
    const path = file('trusted.json', JSON.stringify({ 'worker-1': pem(worker.publicKey, 'spki') }));
    expect([...readTrustedKeys(path).keys()]).toEqual(['worker-1']);
  });

  it.each([
    ['missing.yaml', null, /CAPSTAN_TRUSTED_KEYS="[^"]*missing\.yaml" cannot be used: the file does not exist/],
    ['empty.yaml', '# nothing yet\n', /lists no sender: expected a mapping such as "client-1: <PEM public key>"/],
    [
      'number.yaml',
      'worker-1: 42\n',
      /sender "worker-1": expected a PEM public key or a non-empty list .*got a number/,
    ],
    ['empty-list.yaml', 'worker-1: []\n', /sender "worker-1": expected .*got an empty list/],
    [
      'garbage.yaml',
      'worker-1: not a key\n',
      /sender "worker-1": not a PEM public key .*expected "-----BEGIN PUBLIC KEY-----"/,
    ],
    [
      'private.yaml',
      `worker-1: ${JSON.stringify(pem(worker.privateKey, 'pkcs8'))}\n`,
      /sender "worker-1": is a private key; put only the public key/,
    ],
    [
      'rsa.yaml',
      `worker-1: ${JSON.stringify(pem(rsa.publicKey, 'spki'))}\n`,
      /sender "worker-1": unsupported signing key \(rsa\): expected an ECDSA P-256 or Ed25519 key/,
    ],
    [
      'second.yaml',
      `worker-1: [${JSON.stringify(pem(worker.publicKey, 'spki'))}, "junk"]\n`,
      /sender "worker-1", key #2: not a PEM public key/,
    ],
  ])('rejects %s with a message naming the problem', (name, text, message) => {
    const path = text === null ? join(dir, name) : file(name, text);
    expect(() => readTrustedKeys(path)).toThrow(SignatureConfigError);
    expect(() => readTrustedKeys(path)).toThrow(message);
  });
});

describe('readSigningKey', () => {
  it('reads PKCS#8 and SEC1 keys', () => {
    expect(readSigningKey(file('k8.pem', pem(worker.privateKey, 'pkcs8'))).asymmetricKeyType).toBe('ec');
    expect(readSigningKey(schedulerKey).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('says what is wrong with a missing, non-key or unsupported key file', () => {
    expect(() => readSigningKey(join(dir, 'nope.pem'))).toThrow(
      /CAPSTAN_SIGNING_KEY_FILE="[^"]*nope\.pem" cannot be read \(the file does not exist\)/,
    );
    expect(() => readSigningKey(file('pub.pem', pem(worker.publicKey, 'spki')))).toThrow(/is not a PEM private key/);
    const p256k = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    expect(() => readSigningKey(file('k1.pem', pem(p256k.privateKey, 'pkcs8')))).toThrow(
      /unsupported signing key \(ec secp256k1\)/,
    );
  });
});
