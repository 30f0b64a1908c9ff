import { connect } from 'node:net';

/** Options of {@link sendOversizedBody}. */
export interface OversizedBodyOptions {
  /** Target, e.g. `http://127.0.0.1:4001/v1/jobs`. */
  url: string;
  /** Bytes of body to offer. */
  bytes: number;
  /** Extra request headers (credentials). @default {} */
  headers?: Record<string, string>;
  /**
   * Announce the size in `Content-Length` (the server can refuse before reading anything) or stream it chunked (the
   * server has to count what it reads). @default true
   */
  contentLength?: boolean;
  /** Give up after this long. @default 30000 */
  timeoutMs?: number;
}

/** How the server answered an oversized body. */
export interface OversizedBodyAnswer {
  /** HTTP status, or 0 when the server closed the connection without answering. */
  status: number;
  /** The response body (JSON text for the gateway). */
  body: string;
  /** From the first byte sent to the complete response (or the connection error). */
  elapsedMs: number;
  /** Body bytes the client had handed to the socket when the answer came. */
  bytesSent: number;
  /** The connection error, when there was no answer. */
  error?: string;
}

const CHUNK = 1024 * 1024;

/** Status and body of a complete HTTP/1.1 response in `raw`, or undefined while it is incomplete. */
function parseResponse(raw: Buffer, closed: boolean): { status: number; body: string } | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0);
  const lengthHeader = head.find((h) => /^content-length:/i.test(h));
  const body = raw.subarray(end + 4);
  if (lengthHeader) {
    const length = Number(lengthHeader.split(':')[1]);
    return body.length >= length ? { status, body: body.subarray(0, length).toString('utf8') } : undefined;
  }
  return closed ? { status, body: body.toString('utf8') } : undefined;
}

/**
 * POSTs a JSON-looking body of `bytes` bytes over a raw TCP connection, written 1 MiB at a time as the socket
 * drains (the client never holds the whole body in memory), and reads the response while it writes: it stops
 * writing as soon as the server answers — the way a well-behaved client reacts to an early 413 — and a failed write
 * (the server closed its side) does not hide a response that already arrived (node:http's client would drop it).
 * Never rejects: a connection closed without a response is an answer too (status 0).
 */
export function sendOversizedBody(opts: OversizedBodyOptions): Promise<OversizedBodyAnswer> {
  const started = Date.now();
  const target = new URL(opts.url);
  const chunked = opts.contentLength === false;
  const chunk = Buffer.alloc(CHUNK, 'a');
  chunk.write('{"topic":"job.faults.work","input":"');
  const frame = (data: Buffer) =>
    chunked ? Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]) : data;
  const head = [
    `POST ${target.pathname}${target.search} HTTP/1.1`,
    `Host: ${target.host}`,
    'Content-Type: application/json',
    chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${opts.bytes}`,
    ...Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
    '',
    '',
  ].join('\r\n');
  return new Promise((resolve) => {
    let sent = 0;
    let answered = false;
    let received = Buffer.alloc(0);
    let writeError: string | undefined;
    const socket = connect(Number(target.port), target.hostname);
    const finish = (answer: Omit<OversizedBodyAnswer, 'elapsedMs' | 'bytesSent'>) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      resolve({ ...answer, elapsedMs: Date.now() - started, bytesSent: sent });
      socket.destroy();
    };
    const timer = setTimeout(
      () => finish({ status: 0, body: '', error: `no answer within ${opts.timeoutMs ?? 30_000} ms` }),
      opts.timeoutMs ?? 30_000,
    );
    const tryParse = (closed: boolean) => {
      const r = parseResponse(received, closed);
      if (r) finish(r);
      else if (closed) finish({ status: 0, body: '', error: writeError ?? 'connection closed without a response' });
    };
    socket.on('data', (d: Buffer) => {
      received = Buffer.concat([received, d]);
      tryParse(false);
    });
    socket.on('end', () => tryParse(true));
    socket.on('close', () => tryParse(true));
    // A write into a connection the server closed fails (EPIPE, ECONNRESET); what it sent before still counts.
    socket.on('error', (err) => {
      writeError ??= err.message;
    });
    const pump = () => {
      while (!answered && !writeError && sent < opts.bytes) {
        const n = Math.min(CHUNK, opts.bytes - sent);
        sent += n;
        if (!socket.write(frame(n === CHUNK ? chunk : chunk.subarray(0, n)))) {
          socket.once('drain', pump);
          return;
        }
      }
      if (!answered && !writeError && sent >= opts.bytes && chunked) socket.write('0\r\n\r\n');
    };
    socket.once('connect', () => {
      socket.write(head);
      pump();
    });
  });
}
