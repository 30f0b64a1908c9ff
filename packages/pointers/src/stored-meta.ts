import { PointerError } from './pointer-errors.js';

/** Metadata Capstan writes beside every payload (internal; each backend chooses where it lives). */
export interface StoredMeta {
  contentType: string;
  /** Lowercase hex SHA-256 of the payload. */
  sha256: string;
  size: number;
  createdAt: Date;
  expiresAt?: Date;
}

/** The flat string form of {@link StoredMeta} used as a Redis hash and as the file sidecar's JSON. */
export type StoredMetaRecord = Record<string, string>;

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Flattens metadata into strings (dates as ISO 8601, so humans can read the sidecar or `HGETALL`). */
export function metaToRecord(meta: StoredMeta): StoredMetaRecord {
  const record: StoredMetaRecord = {
    contentType: meta.contentType,
    sha256: meta.sha256,
    size: String(meta.size),
    createdAt: meta.createdAt.toISOString(),
  };
  if (meta.expiresAt) record['expiresAt'] = meta.expiresAt.toISOString();
  return record;
}

/**
 * Reads metadata back. Metadata that exists but cannot be read means the payload's integrity cannot be checked, so it
 * is reported as CHECKSUM_MISMATCH rather than silently ignored.
 */
export function metaFromRecord(record: Record<string, unknown>, uri: string): StoredMeta {
  const { contentType, sha256, size, createdAt, expiresAt } = record;
  const sizeNumber = typeof size === 'string' && /^\d+$/.test(size) ? Number(size) : Number.NaN;
  const created = parseDate(createdAt);
  const expires = expiresAt === undefined ? undefined : parseDate(expiresAt);
  if (
    typeof contentType !== 'string' ||
    typeof sha256 !== 'string' ||
    !SHA256_HEX.test(sha256) ||
    !Number.isSafeInteger(sizeNumber) ||
    created === undefined ||
    (expiresAt !== undefined && expires === undefined)
  ) {
    throw new PointerError(
      'CHECKSUM_MISMATCH',
      `metadata stored for ${uri} is unreadable (expected contentType, 64-hex sha256, integer size and ISO dates), ` +
        'so the payload cannot be verified',
      { uri },
    );
  }
  const meta: StoredMeta = { contentType, sha256, size: sizeNumber, createdAt: created };
  if (expires) meta.expiresAt = expires;
  return meta;
}

function parseDate(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
