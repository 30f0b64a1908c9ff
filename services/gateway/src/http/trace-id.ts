import type { IncomingHttpHeaders } from 'node:http';
import { newTraceId } from '@capstan/protocol';

const TRACE_ID = /^[0-9a-f]{32}$/;
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** Response header carrying the request's trace id (also `error.trace_id` in error bodies). */
export const TRACE_ID_HEADER = 'x-trace-id';

/**
 * The trace id of a request: the caller's W3C `traceparent` trace id or `x-trace-id` (32 lowercase hex) when it
 * sent a valid one, so a client can follow its call through logs and into CAP jobs; a fresh one otherwise.
 */
export function traceIdFor(headers: IncomingHttpHeaders): string {
  const traceparent = headers.traceparent;
  if (typeof traceparent === 'string') {
    const match = TRACEPARENT.exec(traceparent.trim());
    if (match?.[1] && !/^0+$/.test(match[1])) return match[1];
  }
  const given = headers[TRACE_ID_HEADER];
  if (typeof given === 'string' && TRACE_ID.test(given) && !/^0+$/.test(given)) return given;
  return newTraceId();
}
