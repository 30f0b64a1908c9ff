import http2 from 'node:http2';
import {
  create,
  type DescMessage,
  type DescMethodStreaming,
  type DescMethodUnary,
  fromBinary,
  isMessage,
  type MessageInitShape,
  toBinary,
} from '@bufbuild/protobuf';
import { Code, ConnectError, type Transport, type UnaryResponse } from '@connectrpc/connect';
import { encodeEnvelope } from '@connectrpc/connect/protocol';
import { codeFromHttpStatus, findTrailerError } from '@connectrpc/connect/protocol-grpc';

/** Options of {@link createGrpcUnaryTransport}. */
export interface GrpcUnaryTransportOptions {
  /** `http://host:port` (h2c with prior knowledge) or `https://host:port` (TLS, ALPN h2). */
  baseUrl: string;
  /** A PING this often finds a connection that died without a FIN (partition, crashed host). */
  pingIntervalMs: number;
  /** A PING not answered within this closes the connection; the next call opens a new one. */
  pingTimeoutMs: number;
}

/** A transport that owns one HTTP/2 connection. */
export interface GrpcUnaryTransport extends Transport {
  /** Closes the connection and stops the pings; calls in flight fail with UNAVAILABLE. */
  close(): void;
}

const USER_AGENT = 'capstan-safety-client (grpc unary over node:http2)';

/**
 * A Connect `Transport` for unary gRPC calls (binary protobuf, no compression) written directly on one
 * `node:http2` session — what the scheduler uses for `Check`, the call it makes for every job the decision cache
 * cannot answer.
 *
 * Why not connect-node's gRPC transport: measured against the same server, it costs the caller ~290 µs of CPU per
 * call against ~45 µs for a bare node:http2 client (web `Headers`, async iterables, an `AbortController` per call),
 * which was 40 % of the scheduler's CPU per job with the cache off, and it adds a multi-millisecond p99
 * (docs/benchmarks.md, policy-rpc). Everything a caller sees stays Connect's: `createClient` on top, `ConnectError`
 * with the server's code, message and details (parsed by Connect's own `findTrailerError`), DEADLINE_EXCEEDED
 * for `timeoutMs` (also sent as `grpc-timeout`), the caller's `AbortSignal`. Streaming calls are not carried.
 */
export function createGrpcUnaryTransport(options: GrpcUnaryTransportOptions): GrpcUnaryTransport {
  const { baseUrl, pingIntervalMs, pingTimeoutMs } = options;
  let session: http2.ClientHttp2Session | undefined;
  let closed = false;
  /** How to fail each call in flight (close() ends them all). */
  const inFlight = new Set<(err: ConnectError) => void>();

  const connection = (): http2.ClientHttp2Session => {
    if (session && !session.closed && !session.destroyed) return session;
    const s = http2.connect(baseUrl);
    // A broken connection fails its streams (each call reports it); the session's own error has no other reader.
    s.on('error', () => {});
    const forget = () => {
      if (session === s) session = undefined;
    };
    s.once('close', forget);
    // The server is going away (restart, drain): new calls go to a new connection, and this one closes once the
    // calls still on it are answered.
    s.once('goaway', () => {
      forget();
      if (!s.closed) s.close();
    });
    session = s;
    return s;
  };

  const pinger = setInterval(() => {
    const s = session;
    if (!s || s.destroyed || s.connecting) return;
    const timer = setTimeout(() => s.destroy(), pingTimeoutMs);
    timer.unref();
    try {
      s.ping((err) => {
        clearTimeout(timer);
        if (err) s.destroy();
      });
    } catch {
      clearTimeout(timer);
      s.destroy();
    }
  }, pingIntervalMs);
  pinger.unref();

  async function unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: ConstructorParameters<typeof Headers>[0] | undefined,
    input: MessageInitShape<I>,
  ): Promise<UnaryResponse<I, O>> {
    if (closed) throw new ConnectError('transport closed', Code.Unavailable);
    if (signal?.aborted) throw ConnectError.from(signal.reason, Code.Canceled);
    const message = isMessage(input, method.input) ? input : create(method.input, input);
    const frame = encodeEnvelope(0, toBinary(method.input, message));

    const requestHeaders: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': `/${method.parent.typeName}/${method.name}`,
      'content-type': 'application/grpc+proto',
      te: 'trailers',
      'user-agent': USER_AGENT,
    };
    if (timeoutMs !== undefined && timeoutMs > 0) requestHeaders['grpc-timeout'] = grpcTimeout(timeoutMs);
    if (header !== undefined) {
      new Headers(header).forEach((value, key) => {
        requestHeaders[key] = value;
      });
    }

    return new Promise<UnaryResponse<I, O>>((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = connection().request(requestHeaders);
      } catch (err) {
        session?.destroy();
        reject(unavailable(`cannot reach ${baseUrl}`, err));
        return;
      }
      let settled = false;
      let responseHeader: Headers | undefined;
      let trailer: Headers | undefined;
      const chunks: Buffer[] = [];

      const fail = (err: ConnectError) => {
        if (settled) return;
        settled = true;
        cleanup();
        if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(err);
      };
      const onAbort = () => fail(ConnectError.from(signal?.reason, Code.Canceled));
      const timer =
        timeoutMs !== undefined && timeoutMs > 0
          ? setTimeout(() => fail(new ConnectError('the operation timed out', Code.DeadlineExceeded)), timeoutMs)
          : undefined;
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        inFlight.delete(fail);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      inFlight.add(fail);

      stream.on('response', (headers) => {
        responseHeader = toHeaders(headers);
        const status = Number(headers[':status']);
        if (status !== 200) {
          fail(new ConnectError(`HTTP ${status} from ${baseUrl}`, codeFromHttpStatus(status)));
        }
      });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('trailers', (headers) => {
        trailer = toHeaders(headers);
      });
      stream.on('end', () => {
        if (settled) return;
        // A trailers-only answer (errors) carries grpc-status in its headers.
        const status = trailer ?? responseHeader;
        if (!status?.has('grpc-status')) {
          fail(new ConnectError('protocol error: the response carries no grpc-status', Code.Internal));
          return;
        }
        const error = findTrailerError(status);
        if (error) {
          fail(error);
          return;
        }
        const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        if (body.length < 5 || body.readUInt32BE(1) !== body.length - 5) {
          fail(new ConnectError('protocol error: expected exactly one response message', Code.Internal));
          return;
        }
        if ((body[0]! & 0b1) !== 0) {
          fail(new ConnectError('protocol error: compressed response that was not asked for', Code.Internal));
          return;
        }
        let output: ReturnType<typeof fromBinary<O>>;
        try {
          output = fromBinary(method.output, body.subarray(5));
        } catch (err) {
          fail(new ConnectError(`cannot decode ${method.output.typeName}`, Code.Internal, undefined, undefined, err));
          return;
        }
        settled = true;
        cleanup();
        resolve({
          stream: false,
          service: method.parent,
          method,
          header: responseHeader ?? new Headers(),
          message: output,
          trailer: trailer ?? new Headers(),
        });
      });
      stream.on('error', (err) => fail(unavailable(`call to ${baseUrl} failed`, err)));
      stream.on('close', () => {
        if (!settled) fail(unavailable(`stream to ${baseUrl} closed (HTTP/2 code ${stream.rstCode})`));
      });
      stream.end(frame);
    });
  }

  return {
    unary,
    async stream<I extends DescMessage, O extends DescMessage>(method: DescMethodStreaming<I, O>): Promise<never> {
      throw new ConnectError(`${method.name}: this transport carries unary calls only`, Code.Unimplemented);
    },
    close() {
      closed = true;
      clearInterval(pinger);
      for (const fail of [...inFlight]) fail(new ConnectError('transport closed', Code.Unavailable));
      session?.destroy();
      session = undefined;
    },
  };
}

/** A grpc-timeout value: at most 8 digits (gRPC spec), in milliseconds while they fit, else in seconds. */
export function grpcTimeout(ms: number): string {
  const millis = Math.ceil(ms);
  return millis <= 99_999_999 ? `${millis}m` : `${Math.min(99_999_999, Math.ceil(millis / 1000))}S`;
}

function unavailable(what: string, cause?: unknown): ConnectError {
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  return new ConnectError(`${what}${detail}`, Code.Unavailable, undefined, undefined, cause);
}

function toHeaders(headers: http2.IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [key, value] of Object.entries(headers)) {
    if (key.startsWith(':') || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.append(key, v);
    else out.set(key, String(value));
  }
  return out;
}
