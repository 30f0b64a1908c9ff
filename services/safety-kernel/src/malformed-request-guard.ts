import { fromBinary } from '@bufbuild/protobuf';
import { type ConnectRouter, createContextKey } from '@connectrpc/connect';
import type { UniversalHandler, UniversalServerRequest } from '@connectrpc/connect/protocol';

/**
 * Set on a request whose binary message does not decode: what the decoder said. The error interceptor turns it
 * into INVALID_ARGUMENT (Connect itself reports undecodable binary input as INTERNAL, as if it were our fault).
 */
export const MALFORMED_REQUEST = createContextKey<string | undefined>(undefined, {
  description: 'why the request message does not decode',
});

type Framing = 'unary' | 'enveloped';

/** How the body of a binary-encoded request is framed; undefined for JSON, text and compressed unary bodies. */
function binaryFraming(header: Headers): Framing | undefined {
  const type = (header.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/proto') {
    const encoding = header.get('content-encoding');
    return !encoding || encoding === 'identity' ? 'unary' : undefined;
  }
  if (
    type === 'application/grpc' ||
    type === 'application/grpc+proto' ||
    type === 'application/grpc-web' ||
    type === 'application/grpc-web+proto' ||
    type === 'application/connect+proto'
  ) {
    return 'enveloped';
  }
  return undefined;
}

function isByteStream(body: UniversalServerRequest['body']): body is AsyncIterable<Uint8Array> {
  return typeof body === 'object' && body !== null && Symbol.asyncIterator in body;
}

async function* replay(chunks: Uint8Array[], rest?: AsyncIterator<Uint8Array>): AsyncIterable<Uint8Array> {
  yield* chunks;
  if (!rest) return;
  for (let r = await rest.next(); !r.done; r = await rest.next()) yield r.value;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  return new Uint8Array(Buffer.concat(chunks));
}

/**
 * Wraps a handler so that a binary request message that does not decode is flagged (see MALFORMED_REQUEST) and
 * replaced by an empty message, letting Connect run the interceptors, which answer INVALID_ARGUMENT in the
 * protocol the client speaks. Bodies over `maxBytes`, compressed messages and broken framing pass unchanged, so
 * Connect's own limits and protocol errors still apply.
 */
function guardHandler(handler: UniversalHandler, maxBytes: number): UniversalHandler {
  const guarded = async (req: UniversalServerRequest) => {
    const framing = binaryFraming(req.header);
    if (!framing || !req.contextValues || !isByteStream(req.body)) return handler(req);
    const iterator = req.body[Symbol.asyncIterator]();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) {
      chunks.push(r.value);
      size += r.value.byteLength;
      if (size > maxBytes + 5) return handler({ ...req, body: replay(chunks, iterator) });
    }
    const bytes = concat(chunks);
    let message = bytes;
    let empty = new Uint8Array(0);
    if (framing === 'enveloped') {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const wellFramed = bytes.byteLength >= 5 && (bytes[0]! & 0b1) === 0 && view.getUint32(1) === bytes.byteLength - 5;
      if (!wellFramed) return handler({ ...req, body: replay(chunks) });
      message = bytes.subarray(5);
      empty = new Uint8Array(5);
    }
    try {
      fromBinary(handler.method.input, message);
      return handler({ ...req, body: replay([bytes]) });
    } catch (err) {
      req.contextValues.set(MALFORMED_REQUEST, err instanceof Error ? err.message : String(err));
      // Connect compares the body with Content-Length, so the header must describe the replacement.
      const header = new Headers(req.header);
      if (header.has('content-length')) header.set('content-length', String(empty.byteLength));
      return handler({ ...req, header, body: replay([empty]) });
    }
  };
  return Object.assign(guarded, {
    protocolNames: handler.protocolNames,
    service: handler.service,
    method: handler.method,
    requestPath: handler.requestPath,
    allowedMethods: handler.allowedMethods,
    supportedContentType: handler.supportedContentType,
  });
}

/** Guards every handler registered on `router` so far (call at the end of `routes`). */
export function guardMalformedRequests(router: ConnectRouter, maxBytes: number): void {
  const handlers = router.handlers;
  for (let i = 0; i < handlers.length; i++) handlers[i] = guardHandler(handlers[i]!, maxBytes);
}
