import { CapErrorCode, type CapErrorName, capErrorName } from '@capstan/protocol';

/**
 * An error code for a {@link JobFailure}: a CAP code name (`'INVALID_INPUT'`), its wire string (`'203'`), or an
 * application code 1000–9999 as a number or string.
 */
export type JobFailureCode = CapErrorName | string | number;

/** Options of {@link JobFailure}. */
export interface JobFailureOptions {
  /** Sent as `JobResult.error_code` (wire form: a decimal string). @default none (empty error_code) */
  code?: JobFailureCode;
  /** Extra facts for logs; CAP's JobResult has no field for them, so they never leave the worker. */
  details?: unknown;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * The failure taxonomy for handlers, like Temporal's `ApplicationFailure`: throw `JobFailure.fatal(...)` for a
 * failure that retrying cannot fix (reported as `FAILED_FATAL`, which also triggers compensation), and
 * `JobFailure.retryable(...)` for a transient one (`FAILED_RETRYABLE`). Any other thrown value is treated as
 * retryable too, as in Temporal: only an explicit fatal failure stops retries.
 */
export class JobFailure extends Error {
  override name = 'JobFailure';
  /** True for a fatal failure (`FAILED_FATAL`); false for a retryable one (`FAILED_RETRYABLE`). */
  readonly nonRetryable: boolean;
  /** Wire form of the error code (`'203'`, `'1042'`), or `''` when none was given. */
  readonly code: string;
  /** Extra facts for logs. */
  readonly details: unknown;

  constructor(message: string, options: JobFailureOptions & { nonRetryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.nonRetryable = options.nonRetryable ?? false;
    this.code = options.code === undefined ? '' : wireErrorCode(options.code);
    this.details = options.details;
  }

  /** A transient failure: the scheduler may retry the job (`FAILED_RETRYABLE`). */
  static retryable(message: string, options: JobFailureOptions = {}): JobFailure {
    return new JobFailure(message, { ...options, nonRetryable: false });
  }

  /** A permanent failure: no retry, compensation runs (`FAILED_FATAL`). */
  static fatal(message: string, options: JobFailureOptions = {}): JobFailure {
    return new JobFailure(message, { ...options, nonRetryable: true });
  }
}

/**
 * Normalizes a {@link JobFailureCode} to its wire string.
 * @throws {TypeError} when the code is neither a CAP code (name or number) nor an application code 1000–9999.
 */
export function wireErrorCode(code: JobFailureCode): string {
  if (typeof code === 'string' && Object.hasOwn(CapErrorCode, code)) return String(CapErrorCode[code as CapErrorName]);
  const text = typeof code === 'number' ? String(code) : code;
  if (/^\d{1,4}$/.test(text) && capErrorName(text) !== undefined) return String(Number(text));
  throw new TypeError(
    `invalid job failure code ${JSON.stringify(code)}: expected a CAP error code name (e.g. "INVALID_INPUT"), a CAP code (e.g. "203") or an application code from 1000 to 9999`,
  );
}
