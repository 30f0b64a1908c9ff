import type { Pointer } from './parse-pointer.js';
import type { StoredMeta } from './stored-meta.js';

/** What a backend can tell about a value apart from Capstan metadata (used when that metadata is absent). */
export interface ObservedFacts {
  contentType?: string;
  createdAt?: Date;
  expiresAt?: Date;
}

/** A value read from a backend. */
export interface StoredObject {
  data: Uint8Array;
  /** Capstan metadata, absent for values written by third parties. */
  meta?: StoredMeta;
  observed: ObservedFacts;
}

/** A value's facts without its bytes. */
export interface StoredStat {
  /** Size of the stored bytes as the backend reports it. */
  size: number;
  meta?: StoredMeta;
  observed: ObservedFacts;
}

/**
 * Internal storage adapter for one scheme. Backends move bytes and metadata; limits, expiry checks, checksums and
 * error wrapping live once in the store that routes to them.
 */
export interface PointerBackend<P extends Pointer> {
  /**
   * True when the backend drops expired values itself (Redis PX), so the store must not second-guess it with the
   * writer's clock; false when the store enforces `expiresAt` on read.
   */
  readonly expiresNatively: boolean;
  /**
   * True when other programs write the same values without knowing Capstan's metadata (CAP workers `SET
   * res:<job_id>` directly): a size/checksum mismatch then means the metadata is stale, not that the payload is
   * corrupt, so the payload is returned as a third-party value instead of failing with CHECKSUM_MISMATCH.
   */
  readonly sharedWithThirdParties?: boolean;
  /** Writes bytes and metadata; `ttlMs` is set when `meta.expiresAt` is. */
  write(pointer: P, uri: string, data: Uint8Array, meta: StoredMeta, ttlMs: number | undefined): Promise<void>;
  /** Reads at most `maxBytes` (throws TOO_LARGE beyond); undefined when nothing is stored. */
  read(pointer: P, uri: string, maxBytes: number): Promise<StoredObject | undefined>;
  /** Facts without the bytes; undefined when nothing is stored. */
  stat(pointer: P, uri: string): Promise<StoredStat | undefined>;
  /** Deletes bytes and metadata; absent values are not an error. */
  remove(pointer: P, uri: string): Promise<void>;
  /** Lets a backend reclaim a value the store found expired (mem, file); S3 leaves that to lifecycle rules. */
  discardExpired?(pointer: P, uri: string): Promise<void>;
  /** Releases resources the backend owns. */
  close(): Promise<void>;
}
