import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/** Name of the file, inside the dev data directory, holding the demo tenant's secrets (mode 0600). */
export const DEMO_CREDENTIALS_FILE = 'demo-credentials.json';

/** Owner-only read/write: the file holds a password and an owner API key. */
const PRIVATE_FILE_MODE = 0o600;

/**
 * The demo tenant `capstan dev` creates through the gateway on first start. The database stores only the
 * password's scrypt hash and the key's sha256, so this file is the one place the secrets can be read again.
 */
export const demoCredentialsSchema = z.strictObject({
  /** Id of the demo organization (`org_…`); gateway jobs run with it as their CAP tenant. */
  organizationId: z.string().regex(/^org_[0-9a-f]{32}$/),
  /** Email of the demo organization's owner user. */
  email: z.string().min(3),
  /** Password of that user (for `POST /v1/auth/login`). */
  password: z.string().min(8),
  /** An owner API key of the demo organization (`X-API-Key: cacp_live_…`). */
  apiKey: z.string().startsWith('cacp_'),
  /** Id of that key (`key_…`), for `GET/DELETE /v1/api-keys/:id`. */
  apiKeyId: z.string().regex(/^key_[0-9a-f]{32}$/),
  /** When the demo tenant (or its current key) was created, ISO 8601. */
  createdAt: z.string(),
});

/** The demo tenant's credentials, as stored in {@link DEMO_CREDENTIALS_FILE}. */
export type DemoCredentials = z.infer<typeof demoCredentialsSchema>;

/** Why a stored credentials file was not used. */
export type UnreadableReason = 'missing' | 'invalid';

/** Path of the demo credentials file in a dev data directory. */
export function demoCredentialsPath(dataDir: string): string {
  return join(dataDir, DEMO_CREDENTIALS_FILE);
}

/**
 * Reads the demo credentials. A missing file or one that is not valid JSON of the expected shape (edited by hand,
 * truncated) yields the reason instead: the caller provisions a new demo tenant either way, since the secrets
 * cannot be recovered from the database.
 */
export function readDemoCredentials(
  path: string,
): { credentials: DemoCredentials } | { reason: UnreadableReason; problem?: string } {
  if (!existsSync(path)) return { reason: 'missing' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    return { reason: 'invalid', problem: `not JSON: ${(error as Error).message}` };
  }
  const result = demoCredentialsSchema.safeParse(parsed);
  if (!result.success) {
    return {
      reason: 'invalid',
      problem: result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    };
  }
  // Tighten a file that was copied or restored with looser permissions.
  chmodSync(path, PRIVATE_FILE_MODE);
  return { credentials: result.data };
}

/**
 * Writes the demo credentials atomically (temp file + rename) with mode 0600 from the first byte, so neither a
 * crash nor another user ever sees the secrets half-written or readable.
 */
export function writeDemoCredentials(path: string, credentials: DemoCredentials): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(credentials, null, 2)}\n`, { mode: PRIVATE_FILE_MODE });
  chmodSync(temp, PRIVATE_FILE_MODE); // the umask cannot widen 0600, but an existing temp file keeps its mode
  renameSync(temp, path);
}
