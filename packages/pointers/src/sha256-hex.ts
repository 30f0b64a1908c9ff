import { createHash } from 'node:crypto';

/** Lowercase hex SHA-256 of `data`: the checksum recorded with every payload. */
export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
