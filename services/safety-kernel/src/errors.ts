/**
 * Named errors of the safety-kernel service.
 */

/** Base class of the service's own errors. */
export class SafetyKernelError extends Error {
  override name = 'SafetyKernelError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The configured policy file cannot be read or is not a valid bundle (startup only; later edits are logged). */
export class PolicyFileError extends SafetyKernelError {
  override name = 'PolicyFileError';
}

/** A stored snapshot that should exist is missing or no longer loads. */
export class SnapshotNotFoundError extends SafetyKernelError {
  override name = 'SnapshotNotFoundError';
}
