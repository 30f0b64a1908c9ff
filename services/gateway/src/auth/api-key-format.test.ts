import { describe, expect, it } from 'vitest';
import { API_KEY_VISIBLE_CHARS, generateApiKey, hashApiKey, looksLikeApiKey, maskApiKey } from './api-key-format.js';

describe('API key format', () => {
  it('generates cacp_live_ keys with 256 random bits, stored as sha256 and a short prefix', () => {
    const a = generateApiKey();
    const b = generateApiKey();
    expect(a.key).toMatch(/^cacp_live_[A-Za-z0-9_-]{43}$/);
    expect(a.key).not.toBe(b.key);
    expect(a.hash).toBe(hashApiKey(a.key));
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.prefix).toBe(a.key.slice(0, API_KEY_VISIBLE_CHARS));
    expect(maskApiKey(a.prefix)).toHaveLength(a.key.length);
    expect(maskApiKey(a.prefix)).toBe(`${a.prefix}${'*'.repeat(a.key.length - a.prefix.length)}`);
  });

  it('recognizes key-shaped strings only', () => {
    expect(looksLikeApiKey(generateApiKey().key)).toBe(true);
    expect(looksLikeApiKey('cacp_live_abc123def456')).toBe(true);
    expect(looksLikeApiKey('eyJhbGciOiJIUzI1NiJ9.e30.x')).toBe(false);
    expect(looksLikeApiKey('cacp_ spaces')).toBe(false);
    expect(looksLikeApiKey(`cacp_${'a'.repeat(300)}`)).toBe(false);
  });
});
