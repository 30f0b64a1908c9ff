/**
 * Base class for every error the test kit throws, so callers can tell "the test infrastructure broke"
 * apart from "the code under test failed".
 */
export class TestkitError extends Error {
  override name = 'TestkitError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A server binary the test kit needs is not installed (or not on PATH). */
export class MissingBinaryError extends TestkitError {
  override name = 'MissingBinaryError';
  /** The executable that was looked for, e.g. `nats-server`. */
  readonly binary: string;
  /** The Debian package that provides it, e.g. `nats-server`. */
  readonly aptPackage: string;
  constructor(binary: string, aptPackage: string, searched: readonly string[]) {
    super(
      `Cannot find the \`${binary}\` executable (searched: ${searched.join(', ') || '(nothing)'}). ` +
        `Install it with \`apt-get install -y ${aptPackage}\` ` +
        '(all test servers: `apt-get install -y nats-server redis-server postgresql`).',
    );
    this.binary = binary;
    this.aptPackage = aptPackage;
  }
}

/** A server process failed to start or did not become ready in time. */
export class ServerStartError extends TestkitError {
  override name = 'ServerStartError';
  /** Path of the server's log file, kept for inspection when the data dir is retained. */
  readonly logFile: string | undefined;
  constructor(message: string, options?: { cause?: unknown; logFile?: string; logTail?: string }) {
    const tail = options?.logTail?.trim();
    super(tail ? `${message}\n--- last lines of ${options?.logFile ?? 'log'} ---\n${tail}` : message, options);
    this.logFile = options?.logFile;
  }
}

/** A value read from the vitest global setup (via `inject`) is missing. */
export class MissingTestServiceError extends TestkitError {
  override name = 'MissingTestServiceError';
}

/** An argument passed to a test-kit function is invalid. */
export class TestkitArgumentError extends TestkitError {
  override name = 'TestkitArgumentError';
}
