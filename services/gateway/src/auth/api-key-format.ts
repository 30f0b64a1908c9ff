import { createHash, randomBytes } from 'node:crypto';

/** Every Capstan API key starts with this (CACP-compatible: `cacp_live_…`). */
export const API_KEY_PREFIX = 'cacp_live_';

/** How many leading characters of a key are stored and shown (e.g. `cacp_live_Ab3dE6`). */
export const API_KEY_VISIBLE_CHARS = API_KEY_PREFIX.length + 6;

/** A key is the prefix plus 32 random bytes in base64url (43 characters): 256 bits of entropy. */
const RANDOM_BYTES = 32;
const KEY_PATTERN = /^cacp_[A-Za-z0-9_-]{10,200}$/;

/** A newly generated key: `key` is returned to the caller once; only `hash` and `prefix` are stored. */
export interface GeneratedApiKey {
  /** The full secret key. */
  key: string;
  /** sha256 hex of the key, the lookup column. */
  hash: string;
  /** The visible start of the key. */
  prefix: string;
}

/** Generates a new API key. */
export function generateApiKey(): GeneratedApiKey {
  const key = `${API_KEY_PREFIX}${randomBytes(RANDOM_BYTES).toString('base64url')}`;
  return { key, hash: hashApiKey(key), prefix: key.slice(0, API_KEY_VISIBLE_CHARS) };
}

/**
 * sha256 of the key. A slow KDF is for low-entropy passwords; a 256-bit random key cannot be brute-forced, and a
 * fast hash keeps per-request verification cheap.
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** True when `value` has the shape of a Capstan/CACP API key (says nothing about whether it is valid). */
export function looksLikeApiKey(value: string): boolean {
  return KEY_PATTERN.test(value);
}

/** The masked form shown in lists: the visible prefix followed by `*` for the rest of the key. */
export function maskApiKey(prefix: string): string {
  const hidden = API_KEY_PREFIX.length + Math.ceil((RANDOM_BYTES * 4) / 3) - prefix.length;
  return `${prefix}${'*'.repeat(Math.max(hidden, 0))}`;
}
