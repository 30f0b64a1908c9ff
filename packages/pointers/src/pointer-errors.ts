/**
 * The closed set of pointer error codes. Every failure the pointers package reports carries exactly one of them,
 * so callers branch on `code` and never on message text.
 */
export const PointerErrorCode = {
  /** The pointer URI (or a put target) is malformed: empty key, traversal, control characters, too long, … */
  INVALID_POINTER: 'INVALID_POINTER',
  /** The scheme is unknown, or known but not enabled in this store (`allowedSchemes`). */
  SCHEME_NOT_ALLOWED: 'SCHEME_NOT_ALLOWED',
  /** The pointer is well formed but outside what the store may touch (S3 bucket/prefix allow-list, file root). */
  NOT_ALLOWED: 'NOT_ALLOWED',
  /** A payload (or the mem store as a whole) exceeds its byte limit; the message names the limit and the size. */
  TOO_LARGE: 'TOO_LARGE',
  /** Nothing is stored at the pointer. */
  NOT_FOUND: 'NOT_FOUND',
  /** A value exists but its TTL has passed (backends that cannot drop it themselves: S3, file, mem). */
  EXPIRED: 'EXPIRED',
  /** The stored bytes do not match the size/sha256 recorded when they were written, or that record is unreadable. */
  CHECKSUM_MISMATCH: 'CHECKSUM_MISMATCH',
  /** The payload is not what the call expects: not JSON for `getJson`, not serialisable for `putJson`, wrong type. */
  INVALID_PAYLOAD: 'INVALID_PAYLOAD',
  /** Store options or per-call options (TTL, content type) are invalid. */
  INVALID_OPTIONS: 'INVALID_OPTIONS',
  /** The backend (Redis, S3, filesystem) failed or could not be reached, or the store is closed. */
  BACKEND_UNAVAILABLE: 'BACKEND_UNAVAILABLE',
} as const;

/** One of {@link PointerErrorCode}. */
export type PointerErrorCode = (typeof PointerErrorCode)[keyof typeof PointerErrorCode];

/** Extra context for a {@link PointerError}. */
export interface PointerErrorOptions {
  /** The pointer URI the failure concerns, when there is one. */
  uri?: string;
  /** The underlying error (kept for logs; never shown to clients). */
  cause?: unknown;
}

/** The one error type of the pointers package: a {@link PointerErrorCode} plus a message saying what was expected. */
export class PointerError extends Error {
  override readonly name = 'PointerError';
  /** Machine-readable reason. */
  readonly code: PointerErrorCode;
  /** The pointer URI concerned, when known. */
  readonly uri: string | undefined;

  constructor(code: PointerErrorCode, message: string, options: PointerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.uri = options.uri;
  }
}

/** True when `error` is a {@link PointerError}, optionally with the given `code`. */
export function isPointerError(error: unknown, code?: PointerErrorCode): error is PointerError {
  return error instanceof PointerError && (code === undefined || error.code === code);
}

/** The TOO_LARGE error for a payload of `size` bytes against `limit`; one wording for every backend. */
export function payloadTooLarge(uri: string, size: number, limit: number, limitName = 'maxBytes'): PointerError {
  return new PointerError(
    'TOO_LARGE',
    `payload at ${uri} is ${size} bytes; the limit (${limitName}) is ${limit} bytes`,
    { uri },
  );
}

/** The EXPIRED error for a value whose TTL ended at `expiresAt`. */
export function payloadExpired(uri: string, expiresAt: Date): PointerError {
  return new PointerError('EXPIRED', `payload at ${uri} expired at ${expiresAt.toISOString()}`, { uri });
}
