import type { Pointer } from './parse-pointer.js';

/** What identifies a payload: a pointer URI, or the parsed {@link Pointer} (e.g. `{ scheme: 's3', bucket, key }`). */
export type PointerRef = string | Pointer;

/** Facts about a stored payload. */
export interface PointerInfo {
  /** Canonical pointer URI; this is what travels on the bus. */
  uri: string;
  /** Payload size in bytes. */
  size: number;
  /** Lowercase hex SHA-256 of the payload bytes. */
  sha256: string;
  /** MIME type recorded at write time; `application/octet-stream` for third-party values that carry none. */
  contentType: string;
  /**
   * When the payload was written. Absent only for values written by a third party to a backend that cannot tell
   * (a raw Redis `SET`); S3 and file report their modification time.
   */
  createdAt?: Date;
  /** When the payload stops being readable; absent when it never expires. */
  expiresAt?: Date;
  /**
   * True when Capstan metadata was stored with the value (and, on `get`, its sha256 was verified). False for values
   * written by a third party, e.g. a CAP worker's `SET res:<job_id>`: size and sha256 were computed on read.
   */
  hasMetadata: boolean;
}

/** Options for {@link PointerStore.put}. */
export interface PutOptions {
  /**
   * MIME type recorded with the payload.
   * @default 'text/plain; charset=utf-8' for strings, 'application/octet-stream' for bytes ('application/json' for putJson)
   */
  contentType?: string;
  /**
   * Time to live in milliseconds (positive integer); after it the payload reads as NOT_FOUND (Redis drops it) or
   * EXPIRED (S3, file, mem).
   * @default the store's `defaultTtlMs` (no expiry when that is unset)
   */
  ttlMs?: number;
}

/** A payload read back from a store. */
export interface LoadedPayload {
  /** The payload bytes, exactly as stored. */
  data: Uint8Array;
  /** Facts about the payload. */
  info: PointerInfo;
}

/**
 * Reads and writes payloads behind pointers. Only the pointer travels on the bus; the payload lives in Redis, S3, a
 * file root or process memory, chosen by the pointer's scheme. Every failure is a `PointerError` with a code.
 */
export interface PointerStore {
  /** Stores `data` (strings are UTF-8 encoded) at `target`, replacing what was there. */
  put(target: PointerRef, data: Uint8Array | string, options?: PutOptions): Promise<PointerInfo>;
  /** Stores `JSON.stringify(value)` with content type `application/json`. */
  putJson(target: PointerRef, value: unknown, options?: PutOptions): Promise<PointerInfo>;
  /**
   * Loads the payload, refusing more than `maxBytes`, and verifies its sha256 when metadata exists.
   * Values without metadata (third-party writes) load with size and sha256 computed on the fly.
   */
  get(pointer: PointerRef): Promise<LoadedPayload>;
  /** Loads the payload and parses it as UTF-8 JSON. The result is not validated: check its shape before use. */
  getJson<T = unknown>(pointer: PointerRef): Promise<T>;
  /**
   * Facts about the payload without returning it. When metadata exists nothing is downloaded and the checksum is not
   * verified (only the size is compared); without metadata the payload is read (bounded) to compute them.
   */
  head(pointer: PointerRef): Promise<PointerInfo>;
  /** Deletes the payload and its metadata; deleting something absent is not an error. */
  delete(pointer: PointerRef): Promise<void>;
  /** Releases connections the store opened itself (a Redis client passed in by the caller stays open). */
  close(): Promise<void>;
}
