import { once } from 'node:events';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { create } from '@bufbuild/protobuf';
import { BundleIssueSchema } from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import {
  DecisionType,
  type PolicyCheckRequest,
  PolicyCheckRequestSchema,
  SafetyKernel,
} from '@capstan/gen/cordum/agent/v1/safety_pb';
import { Code, ConnectError, createClient, type HandlerContext } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { afterEach, describe, expect, it } from 'vitest';
import { createGrpcUnaryTransport, type GrpcUnaryTransport, grpcTimeout } from './grpc-unary-transport.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A Connect gRPC server (connect-node's own handler) whose Check is `check`. */
async function connectServer(
  check: (req: PolicyCheckRequest, ctx: HandlerContext) => Promise<object> | object,
  port = 0,
): Promise<{ url: string; port: number; sessions: Set<http2.ServerHttp2Session>; stop(): Promise<void> }> {
  const handler = connectNodeAdapter({
    routes: (router) =>
      router.rpc(SafetyKernel.method.check, async (req, ctx) =>
        create(SafetyKernel.method.check.output, await check(req, ctx)),
      ),
  });
  const server = http2.createServer(handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const p = (server.address() as AddressInfo).port;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const s of sessions) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  cleanups.push(stop);
  return { url: `http://127.0.0.1:${p}`, port: p, sessions, stop };
}

function transport(baseUrl: string, ping = { pingIntervalMs: 10_000, pingTimeoutMs: 1000 }): GrpcUnaryTransport {
  const t = createGrpcUnaryTransport({ baseUrl, ...ping });
  cleanups.push(() => t.close());
  return t;
}

const request = (topic: string) => create(PolicyCheckRequestSchema, { topic, tenant: 'acme', jobId: `j-${topic}` });
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );

describe('grpcTimeout', () => {
  it('fits the 8 digits gRPC allows, in ms while it can', () => {
    expect(grpcTimeout(1500)).toBe('1500m');
    expect(grpcTimeout(0.2)).toBe('1m');
    expect(grpcTimeout(99_999_999)).toBe('99999999m');
    expect(grpcTimeout(100_000_000)).toBe('100000S');
    expect(grpcTimeout(Number.MAX_SAFE_INTEGER)).toBe('99999999S');
  });
});

describe('createGrpcUnaryTransport against connect-node’s gRPC handler', () => {
  it('carries calls and their answers, many at once on one connection', async () => {
    const server = await connectServer((req) => ({ decision: DecisionType.ALLOW, ruleId: `rule-${req.topic}` }));
    const client = createClient(SafetyKernel, transport(server.url));
    const topics = Array.from({ length: 200 }, (_, i) => `job.t${i}`);
    const answers = await Promise.all(topics.map((t) => client.check(request(t))));
    expect(answers.map((a) => a.ruleId)).toEqual(topics.map((t) => `rule-${t}`));
  });

  it('sends the deadline as grpc-timeout and ends a slower call with DEADLINE_EXCEEDED', async () => {
    const seen: (string | null)[] = [];
    const server = await connectServer(async (req, ctx) => {
      seen.push(ctx.requestHeader.get('grpc-timeout'));
      if (req.topic === 'job.slow') await new Promise((r) => setTimeout(r, 500));
      return { decision: DecisionType.ALLOW };
    });
    const client = createClient(SafetyKernel, transport(server.url));
    await client.check(request('job.fast'), { timeoutMs: 1500 });
    expect(seen).toEqual(['1500m']);
    const started = performance.now();
    const err = await failure(client.check(request('job.slow'), { timeoutMs: 100 }));
    expect(err?.code).toBe(Code.DeadlineExceeded);
    expect(performance.now() - started).toBeLessThan(400);
  });

  it('returns the server’s error with its code, message and details', async () => {
    const server = await connectServer(() => {
      throw new ConnectError('topic: no such thing', Code.InvalidArgument, undefined, [
        { desc: BundleIssueSchema, value: { file: 'b.yaml', line: 7, column: 2, message: 'here' } },
      ]);
    });
    const err = await failure(createClient(SafetyKernel, transport(server.url)).check(request('job.x')));
    expect(err?.code).toBe(Code.InvalidArgument);
    expect(err?.rawMessage).toBe('topic: no such thing');
    expect(err?.findDetails(BundleIssueSchema)).toMatchObject([{ file: 'b.yaml', line: 7, column: 2 }]);
  });

  it('ends a call when the caller aborts (CANCELED) and refuses calls after close (UNAVAILABLE)', async () => {
    const server = await connectServer(async () => {
      await new Promise((r) => setTimeout(r, 300));
      return { decision: DecisionType.ALLOW };
    });
    const t = transport(server.url);
    const client = createClient(SafetyKernel, t);
    const ac = new AbortController();
    const aborted = failure(client.check(request('job.a'), { signal: ac.signal }));
    setTimeout(() => ac.abort(), 20);
    expect((await aborted)?.code).toBe(Code.Canceled);
    const inFlight = failure(client.check(request('job.b')));
    await new Promise((r) => setTimeout(r, 20));
    t.close();
    expect((await inFlight)?.code).toBe(Code.Unavailable);
    expect((await failure(client.check(request('job.c'))))?.code).toBe(Code.Unavailable);
  });

  it('reports a kernel that is down as UNAVAILABLE and reconnects when it is back', async () => {
    const server = await connectServer(() => ({ decision: DecisionType.ALLOW, ruleId: 'first' }));
    const client = createClient(SafetyKernel, transport(server.url));
    expect((await client.check(request('job.1'))).ruleId).toBe('first');
    await server.stop();
    expect((await failure(client.check(request('job.2'))))?.code).toBe(Code.Unavailable);
    await connectServer(() => ({ decision: DecisionType.ALLOW, ruleId: 'second' }), server.port);
    expect((await client.check(request('job.3'))).ruleId).toBe('second');
  });

  it('moves to a new connection when the server drains the old one (GOAWAY)', async () => {
    const server = await connectServer(() => ({ decision: DecisionType.ALLOW }));
    const client = createClient(SafetyKernel, transport(server.url));
    await client.check(request('job.1'));
    const [first] = [...server.sessions];
    const firstClosed = once(first!, 'close');
    // What a stopping kernel does: GOAWAY, then close once the streams on it are done.
    first!.close();
    await firstClosed;
    await client.check(request('job.2'), { timeoutMs: 2000 });
    expect(server.sessions.size).toBe(1);
    expect([...server.sessions][0] === first).toBe(false);
  });

  it('maps a non-gRPC HTTP answer to the gRPC code for its status', async () => {
    const server = http2.createServer((_req, res) => {
      res.writeHead(404);
      res.end('not here');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const t = transport(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    cleanups.push(() => t.close());
    const err = await failure(createClient(SafetyKernel, t).check(request('job.x')));
    expect(err?.code).toBe(Code.Unimplemented);
  });

  it('drops a connection that stopped answering pings, so the next call does not wait on it', async () => {
    const server = await connectServer(() => ({ decision: DecisionType.ALLOW }));
    // A proxy that can swallow everything on the connections it already has (a partition without a FIN).
    const proxied = new Set<{ blackholed: boolean }>();
    const proxy = net.createServer((client) => {
      const state = { blackholed: false };
      proxied.add(state);
      const upstream = net.connect(server.port, '127.0.0.1');
      client.on('data', (d) => state.blackholed || upstream.write(d));
      upstream.on('data', (d) => state.blackholed || client.write(d));
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    cleanups.push(() => new Promise<void>((r) => proxy.close(() => r())));
    const client = createClient(
      SafetyKernel,
      transport(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, {
        pingIntervalMs: 100,
        pingTimeoutMs: 150,
      }),
    );
    await client.check(request('job.before'));
    for (const p of proxied) p.blackholed = true;
    // Two ping periods: the unanswered ping closes the connection.
    await new Promise((r) => setTimeout(r, 400));
    const answer = await client.check(request('job.after'), { timeoutMs: 1000 });
    expect(answer.decision).toBe(DecisionType.ALLOW);
    expect(proxied.size).toBe(2);
  });
});
