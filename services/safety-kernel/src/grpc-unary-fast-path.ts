import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import {
  type DescMessage,
  type DescMethodUnary,
  fromBinary,
  type Message,
  type MessageShape,
  toBinary,
} from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { encodeEnvelope } from '@connectrpc/connect/protocol';
import { parseTimeout, setTrailerStatus } from '@connectrpc/connect/protocol-grpc';
import type { connectNodeAdapter } from '@connectrpc/connect-node';

/** A Node request handler for both HTTP versions, as connectNodeAdapter returns. */
export type NodeHandler = ReturnType<typeof connectNodeAdapter>;

/** One unary method answered on the fast path (made by {@link fastUnary}). */
export interface FastUnaryMethod {
  method: DescMethodUnary;
  impl: (request: Message) => Promise<Message>;
}

/** A fast-path entry for `method`, type-checked against its implementation. */
export function fastUnary<I extends DescMessage, O extends DescMessage>(
  method: DescMethodUnary<I, O>,
  impl: (request: MessageShape<I>) => Promise<MessageShape<O>>,
): FastUnaryMethod {
  // Erased once here: the fast path only ever hands `impl` messages decoded with `method.input`.
  return { method, impl } as unknown as FastUnaryMethod;
}

/** Options of {@link withGrpcUnaryFastPath}. */
export interface GrpcUnaryFastPathOptions {
  methods: readonly FastUnaryMethod[];
  /** Largest request message, in bytes (the same limit the Connect handler has). */
  maxRequestBytes: number;
  /** What the client gets for an error the method threw (the same mapping the Connect interceptors apply). */
  toError: (err: unknown, rpc: string) => ConnectError;
  /** The message for a request that does not decode (the same one the Connect path gives). */
  undecodable: (typeName: string, problem: string) => ConnectError;
  /** Sees every error answered on the fast path, protocol errors included (for metrics). */
  onError?: (rpc: string, error: ConnectError) => void;
}

/** Binary gRPC only: JSON (`application/grpc+json`) and gRPC-Web stay with Connect. */
const BINARY_GRPC = /^application\/grpc(?:\+proto)?$/i;
const RESPONSE_CONTENT_TYPE = 'application/grpc+proto';
const OK_TRAILER = { 'grpc-status': '0' };

/**
 * Serves the given unary methods for plain binary gRPC over HTTP/2 directly on node:http2, and hands every other
 * request (Connect, gRPC-Web, JSON, compressed gRPC, HTTP/1.1, other methods) to `fallback` unchanged.
 *
 * Why: the hot Check is a small unary call, and connect-node's server adapter (async iterables, an AbortController
 * and context per call, a separate write for headers, body and trailers) cost the kernel ~0.35 ms of CPU per call
 * (0.47 ms per Check through it, 0.13 ms on this path) and most of its multi-millisecond p99
 * (docs/benchmarks.md, policy-rpc). The wire behaviour matches Connect's gRPC handler: the same response content
 * type, errors as `grpc-status`/`grpc-message`/`grpc-status-details-bin` trailers encoded by Connect's own
 * `setTrailerStatus`, the same codes for protocol errors, and the same error mapping as the interceptors.
 */
export function withGrpcUnaryFastPath(fallback: NodeHandler, options: GrpcUnaryFastPathOptions): NodeHandler {
  const byPath = new Map(options.methods.map((m) => [`/${m.method.parent.typeName}/${m.method.name}`, m]));
  return (req, res) => {
    const method = req.httpVersionMajor === 2 && req.method === 'POST' ? byPath.get(req.url ?? '') : undefined;
    const encoding = req.headers['grpc-encoding'];
    if (
      method === undefined ||
      !BINARY_GRPC.test(req.headers['content-type'] ?? '') ||
      (encoding !== undefined && encoding !== 'identity')
    ) {
      fallback(req, res);
      return;
    }
    serveUnary(method, req as Http2ServerRequest, res as Http2ServerResponse, options);
  };
}

function serveUnary(
  m: FastUnaryMethod,
  req: Http2ServerRequest,
  res: Http2ServerResponse,
  options: GrpcUnaryFastPathOptions,
): void {
  const rpc = `${m.method.parent.typeName}/${m.method.name}`;
  let answered = false;
  const fail = (error: ConnectError) => {
    if (answered) return;
    answered = true;
    options.onError?.(rpc, error);
    const trailer: Record<string, string> = {};
    setTrailerStatus(new Headers(), error).forEach((value, key) => {
      trailer[key] = value;
    });
    respond(res, undefined, trailer);
  };
  // A malformed grpc-timeout is refused as Connect refuses it; a valid one is the client's to enforce (the methods
  // here never wait on anything slower than their own Redis/Postgres timeouts, as through Connect).
  const timeout = parseTimeout((req.headers['grpc-timeout'] as string | undefined) ?? null, Number.MAX_SAFE_INTEGER);
  if (timeout.error) {
    req.resume();
    fail(timeout.error);
    return;
  }

  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    if (answered) return;
    size += chunk.length;
    // The envelope's 5-byte prefix does not count against the message limit.
    if (size > options.maxRequestBytes + 5) {
      chunks.length = 0;
      fail(
        new ConnectError(
          `message size ${size - 5} is larger than configured readMaxBytes ${options.maxRequestBytes}`,
          Code.ResourceExhausted,
        ),
      );
      return;
    }
    chunks.push(chunk);
  });
  // A reset stream or a broken connection: nobody is left to answer.
  req.on('error', () => {
    answered = true;
  });
  req.on('end', () => {
    if (answered) return;
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    const message = unaryMessage(body);
    if (message instanceof ConnectError) {
      fail(message);
      return;
    }
    let request: Message;
    try {
      request = fromBinary(m.method.input, message);
    } catch (err) {
      fail(options.undecodable(m.method.input.typeName, err instanceof Error ? err.message : String(err)));
      return;
    }
    m.impl(request).then(
      (response) => {
        if (answered) return;
        answered = true;
        respond(res, encodeEnvelope(0, toBinary(m.method.output, response)), OK_TRAILER);
      },
      (err: unknown) => fail(options.toError(err, rpc)),
    );
  });
}

/**
 * Headers, the optional message and the trailers, handed to node:http2 at once (it still sends the trailers one
 * event-loop turn after the rest, from a setImmediate — see bench/src/diag/http2-trailers.ts).
 */
function respond(res: Http2ServerResponse, frame: Uint8Array | undefined, trailer: Record<string, string>): void {
  if (res.stream.destroyed) return;
  res.writeHead(200, { 'content-type': RESPONSE_CONTENT_TYPE });
  res.addTrailers(trailer);
  if (frame) res.end(frame);
  else res.end();
}

/**
 * The one uncompressed message of a unary gRPC request body, or the protocol error Connect's gRPC handler gives
 * for the same body (so both paths answer a broken client alike).
 */
function unaryMessage(body: Buffer): Uint8Array | ConnectError {
  if (body.length === 0) {
    return new ConnectError(`protocol error: missing input message for unary method`, Code.Unimplemented);
  }
  const length = body.length < 5 ? Number.POSITIVE_INFINITY : body.readUInt32BE(1);
  if (body.length < 5 + length) return new ConnectError('protocol error: incomplete envelope', Code.InvalidArgument);
  if ((body[0]! & 0b1) !== 0) {
    return new ConnectError('received compressed envelope, but do not know how to decompress', Code.Internal);
  }
  if (body.length > 5 + length) {
    return new ConnectError(`protocol error: received extra input message for unary method`, Code.Unimplemented);
  }
  return body.subarray(5, 5 + length);
}
