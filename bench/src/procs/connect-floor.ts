// The transport floors of the policy-rpc benchmark: a gRPC (h2c) server in its own process whose Check answers a
// constant ALLOW at once. FLOOR_MODE=connect (default) serves it through connect-node — Node's HTTP/2 and
// connect-node, none of the kernel's work; FLOOR_MODE=bare writes the same gRPC response bytes and trailers with
// node:http2 alone — what any Node gRPC server pays on this machine. The listening port is reported to the parent
// (FLOOR_PORT=0 picks a free one).
import { createServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { create } from '@bufbuild/protobuf';
import { DecisionType, PolicyCheckResponseSchema, SafetyKernel } from '@capstan/gen/cordum/agent/v1/safety_pb';
import type { ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { grpcFrame } from '../lib/bare-grpc-client.js';
import { serveRunner } from '../lib/proc-ipc.js';

const answer = create(PolicyCheckResponseSchema, {
  decision: DecisionType.ALLOW,
  policySnapshot: 'floor',
  ruleId: 'floor',
});

function bareHandler(): (req: Http2ServerRequest, res: Http2ServerResponse) => void {
  const frame = grpcFrame(PolicyCheckResponseSchema, answer);
  return (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/grpc' });
      res.addTrailers({ 'grpc-status': '0' });
      res.end(frame);
    });
  };
}

const handler =
  process.env['FLOOR_MODE'] === 'bare'
    ? bareHandler()
    : connectNodeAdapter({
        routes: (router: ConnectRouter) => router.rpc(SafetyKernel.method.check, async () => answer),
      });
const server = createServer(handler);
server.on('connection', (socket: import('node:net').Socket) => socket.setNoDelay(true));
server.listen(Number(process.env['FLOOR_PORT'] ?? 0), '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.send?.({ ready: true, url: `http://127.0.0.1:${port}` });
});
serveRunner(() => new Promise<void>((resolve) => server.close(() => resolve())));
