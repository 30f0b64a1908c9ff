import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Transport } from '@connectrpc/connect';
import { createConnectTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { createGrpcUnaryTransport } from './grpc-unary-transport.js';
import type { ResolvedSafetyKernelPolicyOptions } from './safety-kernel-policy-options.js';

/** A Connect transport to the kernel plus the connection it owns. */
export interface KernelTransport {
  transport: Transport;
  /** Closes the HTTP/2 session or the keep-alive sockets. */
  close(): void;
}

/**
 * Builds the transport. gRPC (the default) uses Capstan's lean unary transport on one node:http2 session
 * (see createGrpcUnaryTransport for why); the Connect protocol uses connect-node, whose HTTP/2 session and HTTP/1.1
 * keep-alive agent are created here so `close()` can end them and a stopped scheduler leaves no socket open. A
 * connection that broke (kernel restarted) is re-opened on the next call.
 */
export function createKernelTransport(o: ResolvedSafetyKernelPolicyOptions): KernelTransport {
  // Pings keep an idle connection honest, so the first call after a kernel restart does not wait on a dead socket.
  const pingTimeoutMs = Math.max(1000, o.timeoutMs);
  if (o.protocol === 'grpc') {
    const transport = createGrpcUnaryTransport({ baseUrl: o.url, pingIntervalMs: 10_000, pingTimeoutMs });
    return { transport, close: () => transport.close() };
  }
  if (o.httpVersion === '2') {
    const sessionManager = new Http2SessionManager(o.url, {
      pingIntervalMs: 10_000,
      pingTimeoutMs,
      idleConnectionTimeoutMs: 60_000,
    });
    const transport = createConnectTransport({
      baseUrl: o.url,
      httpVersion: '2',
      sessionManager,
      useBinaryFormat: true,
    });
    return { transport, close: () => sessionManager.abort() };
  }
  const agent = o.url.startsWith('https:') ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const transport = createConnectTransport({
    baseUrl: o.url,
    httpVersion: '1.1',
    useBinaryFormat: true,
    nodeOptions: { agent },
  });
  return { transport, close: () => agent.destroy() };
}
