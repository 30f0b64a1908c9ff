/** Limits and defaults of the pointers package, each defined once here. */

/**
 * Longest pointer URI accepted, in UTF-16 code units. Pointers ride inside every bus packet, so they stay short;
 * 2048 leaves room for an S3 key at its 1024-byte maximum plus bucket and scheme.
 */
export const MAX_POINTER_URI_LENGTH = 2048;

/** Longest S3 object key S3 itself accepts, in UTF-8 bytes. */
export const MAX_S3_KEY_BYTES = 1024;

/**
 * Default per-payload byte limit (8 MiB): large enough for LLM contexts and tool results, small enough that one
 * read cannot exhaust a worker's memory. Raise `maxBytes` for stores that carry big artifacts.
 */
export const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;

/** Default bound on the total bytes the in-process `mem://` backend holds (64 MiB). */
export const DEFAULT_MEM_MAX_TOTAL_BYTES = 64 * 1024 * 1024;

/** Content type recorded for string payloads when the caller gives none. */
export const DEFAULT_TEXT_CONTENT_TYPE = 'text/plain; charset=utf-8';

/** Content type recorded for byte payloads, and reported for third-party values that carry none. */
export const DEFAULT_BINARY_CONTENT_TYPE = 'application/octet-stream';

/** Content type of `putJson` payloads. */
export const JSON_CONTENT_TYPE = 'application/json';
