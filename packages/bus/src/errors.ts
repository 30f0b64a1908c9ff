import type { CapErrorName } from '@capstan/protocol';
import { capErrorString } from '@capstan/protocol';

/**
 * Thrown by a handler to refuse a well-formed packet on semantic grounds (unknown job, wrong worker, stale
 * epoch...). The bus dead-letters it with the CAP code and acks it: it is never retried.
 */
export class PacketRejectedError extends Error {
  override name = 'PacketRejectedError';
  /** Wire form of the CAP error code. */
  readonly wireCode: string;
  constructor(
    readonly code: CapErrorName,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.wireCode = capErrorString(code);
  }
}

/** Thrown when the bus cannot connect or a request gets no valid reply. */
export class BusError extends Error {
  override name = 'BusError';
}
