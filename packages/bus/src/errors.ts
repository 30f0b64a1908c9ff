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

/**
 * JetStream's "stream store failed" API error (nats-server `JSStreamStoreFailedF`): with `discard: new` a full
 * stream answers a publish with it and the reason "maximum messages exceeded" (or "… bytes exceeded").
 */
const JS_STREAM_STORE_FAILED = 10077;

/**
 * True when a JetStream publish was refused because the stream is at its `max_msgs` / `max_bytes` bound (with
 * `discard: new`): the admission refusal of a full submit backlog, as opposed to a missing stream or a timeout.
 */
export function isStreamFullError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return (
    typeof e === 'object' &&
    e !== null &&
    e.code === JS_STREAM_STORE_FAILED &&
    /maximum (messages|bytes) exceeded/i.test(String(e.message))
  );
}
