// The transport floor of the policy-rpc benchmark: a Connect (gRPC, h2c) server in its own process whose Check
// answers a constant ALLOW at once — Node's HTTP/2 and connect-node, none of the kernel's work. The listening port
// is reported to the parent (FLOOR_PORT=0 picks a free one).
import { createServer } from 'node:http2';
import { create } from '@bufbuild/protobuf';
import { DecisionType, PolicyCheckResponseSchema, SafetyKernel } from '@capstan/gen/cordum/agent/v1/safety_pb';
import type { ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { serveRunner } from '../lib/proc-ipc.js';

const answer = create(PolicyCheckResponseSchema, {
  decision: DecisionType.ALLOW,
  policySnapshot: 'floor',
  ruleId: 'floor',
});
const handler = connectNodeAdapter({
  routes: (router: ConnectRouter) => router.rpc(SafetyKernel.method.check, async () => answer),
});
const server = createServer(handler);
server.on('connection', (socket: import('node:net').Socket) => socket.setNoDelay(true));
server.listen(Number(process.env['FLOOR_PORT'] ?? 0), '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.send?.({ ready: true, url: `http://127.0.0.1:${port}` });
});
serveRunner(() => new Promise<void>((resolve) => server.close(() => resolve())));
