import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttp2Server, type Http2Server, type Http2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { MessageInitShape } from '@bufbuild/protobuf';
import {
  DecisionType,
  type PolicyCheckRequest,
  type PolicyCheckResponseSchema,
  SafetyKernel,
} from '@capstan/gen/cordum/agent/v1/safety_pb';
import { Code, ConnectError } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';

/** What a test kernel answers for one request (a plain init object is enough). */
export type TestDecision = MessageInitShape<typeof PolicyCheckResponseSchema>;

/** Decides one Check; may be async (to simulate a slow kernel) or throw a `ConnectError`. */
export type TestDecide = (request: PolicyCheckRequest) => TestDecision | Promise<TestDecision>;

/** Options of {@link startTestSafetyKernel}. */
export interface TestSafetyKernelOptions {
  /** @default allow everything from snapshot `test-snapshot`, rule `test-allow` */
  decide?: TestDecide;
  /** `h2c` = HTTP/2 without TLS (gRPC, Connect over HTTP/2), `http1` = Connect over HTTP/1.1; @default 'h2c' */
  http?: 'h2c' | 'http1';
  /** @default 0 (a free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
}

/** A running test kernel. */
export interface TestSafetyKernel {
  /** `http://host:port` */
  readonly url: string;
  readonly port: number;
  /** Every Check request received, in order. */
  readonly calls: PolicyCheckRequest[];
  /** The current decision function; replace it to change answers. */
  decide: TestDecide;
  /** Stops listening and drops every open connection (the kernel "goes down"). */
  stop(): Promise<void>;
  /** Listens again on the same port (the kernel "comes back"). */
  start(): Promise<void>;
}

/** The default answer of a test kernel. */
export const TEST_ALLOW: TestDecision = {
  decision: DecisionType.ALLOW,
  reason: 'test kernel allows',
  policySnapshot: 'test-snapshot',
  ruleId: 'test-allow',
};

/**
 * A real `cordum.agent.v1.SafetyKernel` Connect server for tests: Check answers from `decide`; Evaluate answers
 * the same; Explain, Simulate and ListSnapshots are unimplemented. Listens on loopback only.
 */
export async function startTestSafetyKernel(opts: TestSafetyKernelOptions = {}): Promise<TestSafetyKernel> {
  const host = opts.host ?? '127.0.0.1';
  const calls: PolicyCheckRequest[] = [];
  const kernel = {
    decide: opts.decide ?? (() => TEST_ALLOW),
  };
  const handler = connectNodeAdapter({
    routes: (router) =>
      router.service(SafetyKernel, {
        async check(req) {
          calls.push(req);
          return kernel.decide(req);
        },
        async evaluate(req) {
          return kernel.decide(req);
        },
        explain() {
          throw new ConnectError('the test kernel does not explain', Code.Unimplemented);
        },
        simulate() {
          throw new ConnectError('the test kernel does not simulate', Code.Unimplemented);
        },
        listSnapshots() {
          return { snapshots: [] };
        },
      }),
  });
  const h2 = (opts.http ?? 'h2c') === 'h2c';
  let server: Http2Server | HttpServer | undefined;
  let port = opts.port ?? 0;
  const sessions = new Set<Http2Session>();

  const start = async () => {
    if (server) return;
    const s = h2 ? createHttp2Server(handler) : createHttpServer(handler);
    if (h2) {
      (s as Http2Server).on('session', (session) => {
        sessions.add(session);
        session.on('close', () => sessions.delete(session));
      });
    }
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, host, () => {
        s.off('error', reject);
        resolve();
      });
    });
    port = (s.address() as AddressInfo).port;
    server = s;
  };

  const stop = async () => {
    const s = server;
    if (!s) return;
    server = undefined;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    for (const session of sessions) session.destroy();
    sessions.clear();
    if (!h2) (s as HttpServer).closeAllConnections();
    await closed;
  };

  await start();
  return {
    get url() {
      return `http://${host}:${port}`;
    },
    get port() {
      return port;
    },
    calls,
    get decide() {
      return kernel.decide;
    },
    set decide(fn: TestDecide) {
      kernel.decide = fn;
    },
    stop,
    start,
  };
}
