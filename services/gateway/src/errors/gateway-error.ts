import { type ErrorCodeDefinition, type ErrorCodeName, ErrorCodes } from './error-codes.js';

/** Where in the request a bad field was found. */
export type FieldLocation = 'body' | 'query' | 'params' | 'headers';

/** One field-level problem, as returned in `error.details`. */
export interface FieldError {
  /** Dotted path of the field inside its location, e.g. `scopes.0` or `per_page`. */
  field: string;
  /** What is wrong and what is expected. */
  message: string;
  /** Which part of the request holds the field. @default body */
  location?: FieldLocation;
}

/** Options of a {@link GatewayError}. */
export interface GatewayErrorOptions {
  /** Field-level details returned to the client. */
  details?: readonly FieldError[];
  /** Extra response headers (e.g. `Retry-After`). */
  headers?: Readonly<Record<string, string>>;
  /** The underlying error, kept for logs only — never sent to the client. */
  cause?: unknown;
}

/**
 * The one error type gateway code throws. The error handler turns it into
 * `{ "error": { "code", "message", "details", "trace_id" } }` with the code's HTTP status.
 *
 * @example throw new GatewayError('AGENT_NOT_FOUND', `Agent ${id} not found`);
 */
export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  /** The code's name, e.g. `AGENT_NOT_FOUND`. */
  readonly codeName: ErrorCodeName;
  /** The code definition (number, HTTP status). */
  declare readonly definition: ErrorCodeDefinition;
  /** Field-level details. */
  readonly details: readonly FieldError[];
  /** Extra response headers. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(codeName: ErrorCodeName, message?: string, options: GatewayErrorOptions = {}) {
    const definition = ErrorCodes[codeName];
    super(message ?? definition.message, { cause: options.cause });
    this.codeName = codeName;
    // Not enumerable: pino's error serializer walks enumerable fields and would try to mark this frozen object.
    Object.defineProperty(this, 'definition', { value: definition, enumerable: false });
    this.details = options.details ?? [];
    this.headers = options.headers ?? {};
  }

  /** Numeric code sent to the client. */
  get code(): number {
    return this.definition.code;
  }

  /** HTTP status of the response. fastify reads `statusCode` too. */
  get statusCode(): number {
    return this.definition.status;
  }
}

/** True for a {@link GatewayError} (also across module copies, by name). */
export function isGatewayError(value: unknown): value is GatewayError {
  return value instanceof GatewayError;
}
