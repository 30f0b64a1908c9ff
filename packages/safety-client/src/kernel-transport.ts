import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import type { ResolvedSafetyKernelPolicyOptions } from './safety-kernel-policy-options.js';

/** A Connect transport to the kernel plus the connection it owns. */
export interface KernelTransport {
  transport: Transport;
  /** Closes the HTTP/2 session or the keep-alive sockets. */
  close(): void;
}

/**
 * Builds the transport. The HTTP/2 session (gRPC, or Connect over HTTP/2) and the HTTP/1.1 keep-alive agent are
 * created here rather than inside connect-node, so `close()` can end them and a stopped scheduler leaves no
 * socket open. A session that broke (kernel restarted) is re-opened by the session manager on the next call.
 */
export function createKernelTransport(o: ResolvedSafetyKernelPolicyOptions): KernelTransport {
  if (o.protocol === 'grpc' || o.httpVersion === '2') {
    // Pings keep an idle session honest, so the first call after a kernel restart does not wait on a dead socket.
    const sessionManager = new Http2SessionManager(o.url, {
      pingIntervalMs: 10_000,
      pingTimeoutMs: Math.max(1000, o.timeoutMs),
      idleConnectionTimeoutMs: 60_000,
    });
    const transport =
      o.protocol === 'grpc'
        ? createGrpcTransport({ baseUrl: o.url, sessionManager })
        : createConnectTransport({ baseUrl: o.url, httpVersion: '2', sessionManager, useBinaryFormat: true });
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
