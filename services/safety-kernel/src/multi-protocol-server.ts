import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { connectNodeAdapter } from '@connectrpc/connect-node';
import type { Logger } from 'pino';
import { FIRST_BYTES_TIMEOUT_MS, SHUTDOWN_GRACE_MS } from './limits.js';

/** The HTTP/2 client connection preface (RFC 9113 §3.4): what a prior-knowledge h2c client sends first. */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Options of {@link startMultiProtocolServer}. */
export interface MultiProtocolServerOptions {
  /** Address to bind, e.g. 127.0.0.1 or 0.0.0.0. */
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** One request handler for both HTTP versions (connectNodeAdapter). */
  handler: ReturnType<typeof connectNodeAdapter>;
  logger: Logger;
  /**
   * How long `close` waits for in-flight requests before destroying connections.
   * @default 5000
   */
  graceMs?: number;
  /**
   * A new connection must send its first bytes within this time.
   * @default 10000
   */
  firstBytesTimeoutMs?: number;
}

/** A listening server. */
export interface MultiProtocolServer {
  /** `http://host:port`. */
  readonly url: string;
  readonly port: number;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), then closes every connection. */
  close(): Promise<void>;
}

/**
 * One TCP port for HTTP/1.1 and cleartext HTTP/2 with prior knowledge (h2c, what gRPC clients speak). Node's
 * plaintext http2 server cannot fall back to HTTP/1.1, so each connection's first bytes are sniffed: the HTTP/2
 * preface goes to an http2 server, anything else to an http1 server, both running the same handler. The sniffed
 * bytes are pushed back onto the socket, so neither server notices.
 */
export async function startMultiProtocolServer(options: MultiProtocolServerOptions): Promise<MultiProtocolServer> {
  const { handler, logger } = options;
  const graceMs = options.graceMs ?? SHUTDOWN_GRACE_MS;
  const firstBytesTimeoutMs = options.firstBytesTimeoutMs ?? FIRST_BYTES_TIMEOUT_MS;
  const h1 = http.createServer(handler as http.RequestListener);
  const h2 = http2.createServer({}, handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  const sockets = new Set<net.Socket>();
  /** Connections that have not sent enough bytes to pick a protocol yet. */
  const sniffing = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  let closing = false;

  h2.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    // A client that misbehaves at the HTTP/2 layer must not take the process down.
    session.on('error', (err) => logger.debug({ err }, 'http2 session error'));
    if (closing) session.close();
  });
  h1.on('clientError', (err, socket) => {
    logger.debug({ err }, 'http1 client error');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  // Requests in flight per HTTP/1 connection. http.Server only tracks idle connections for servers that listen
  // themselves, so closeIdleConnections() would not see these.
  const h1InFlight = new Map<net.Socket, number>();
  const endIdleH1 = () => {
    for (const [socket, n] of h1InFlight) if (n === 0) socket.end();
  };
  h1.on('request', (req, res) => {
    const socket = req.socket;
    h1InFlight.set(socket, (h1InFlight.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const left = (h1InFlight.get(socket) ?? 1) - 1;
      if (h1InFlight.has(socket)) h1InFlight.set(socket, left);
      if (closing && left === 0) socket.end();
    });
    // Keep-alive connections would hold a stopping server open; tell clients to reconnect elsewhere.
    if (closing) res.setHeader('Connection', 'close');
  });

  const dispatch = (socket: net.Socket) => {
    let head: Buffer = Buffer.alloc(0);
    sniffing.add(socket);
    const timer = setTimeout(() => socket.destroy(), firstBytesTimeoutMs);
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, H2_PREFACE.length);
      const h2Prefix = head.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      // Until the whole preface has arrived it could still be an HTTP/1 request starting with "P" (POST, PUT).
      if (h2Prefix && head.length < H2_PREFACE.length) return;
      clearTimeout(timer);
      sniffing.delete(socket);
      socket.removeListener('data', onData);
      socket.pause();
      socket.unshift(head);
      if (h2Prefix) {
        // The session reads the buffered bytes itself on its first tick; resuming would hand them to nobody.
        h2.emit('connection', socket);
      } else {
        // The http1 parser reads new bytes straight from the handle; the buffered ones arrive as 'data' once the
        // stream flows again.
        h1InFlight.set(socket, 0);
        socket.once('close', () => h1InFlight.delete(socket));
        h1.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
    socket.once('close', () => {
      clearTimeout(timer);
      sniffing.delete(socket);
    });
  };

  // noDelay: the http servers set it only on sockets they accept themselves; without it Nagle's algorithm holds
  // small responses back until the peer's delayed ACK (~40 ms), which shows up as a fat latency tail.
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // Resets and half-sent requests are the client's problem; an unhandled socket error would crash the process.
    socket.on('error', (err) => logger.debug({ err }, 'connection error'));
    if (closing) {
      socket.destroy();
      return;
    }
    dispatch(socket);
  });
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const address = server.address() as net.AddressInfo;
  const hostForUrl = options.host.includes(':') ? `[${options.host}]` : options.host;

  return {
    url: `http://${hostForUrl}:${address.port}`,
    port: address.port,
    async close() {
      if (closing) return;
      closing = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sniffing) socket.destroy();
      for (const session of sessions) session.close();
      endIdleH1();
      const drained = (async () => {
        while (sockets.size > 0) await new Promise((r) => setTimeout(r, 10));
      })();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([drained, timeout]);
      clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await stopped;
    },
  };
}
