import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { create, toBinary } from '@bufbuild/protobuf';
import { BundleIssueSchema } from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import {
  DecisionType,
  type PolicyCheckRequest,
  PolicyCheckRequestSchema,
  PolicyCheckResponseSchema,
  SafetyKernel,
} from '@capstan/gen/cordum/agent/v1/safety_pb';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { connectNodeAdapter, createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fastUnary, withGrpcUnaryFastPath } from './grpc-unary-fast-path.js';

/** A Check that answers from the request, fails on demand, or waits, so every branch can be driven. */
async function check(request: PolicyCheckRequest) {
  if (request.topic === 'job.fail.connect') {
    throw new ConnectError('topic: not allowed here', Code.InvalidArgument, undefined, [
      { desc: BundleIssueSchema, value: { file: 'b.yaml', line: 3, column: 5, message: 'example' } },
    ]);
  }
  if (request.topic === 'job.fail.crash') throw new Error('SELECT secret FROM somewhere failed');
  return create(PolicyCheckResponseSchema, {
    decision: DecisionType.ALLOW,
    policySnapshot: 'snap-1',
    ruleId: `rule-for-${request.topic}`,
  });
}

let server: http2.Http2Server;
let h1: http.Server;
let url: string;
let h1Url: string;
const sessions = new Set<http2.ServerHttp2Session>();
let fallbackCalls: string[] = [];
let crashes: unknown[] = [];

beforeAll(async () => {
  const connect = connectNodeAdapter({
    routes: (router) => router.service(SafetyKernel, { check, evaluate: check }),
  });
  const handler = withGrpcUnaryFastPath(
    (req, res) => {
      fallbackCalls.push(`${req.method} ${req.url} ${req.headers['content-type']}`);
      connect(req, res);
    },
    {
      methods: [fastUnary(SafetyKernel.method.check, check)],
      maxRequestBytes: 64 * 1024,
      toError: (err, rpc) => {
        if (err instanceof ConnectError) return err;
        crashes.push(err);
        return new ConnectError(`internal error in ${rpc}`, Code.Internal);
      },
      undecodable: (typeName, problem) =>
        new ConnectError(`cannot decode ${typeName}: ${problem}`, Code.InvalidArgument),
    },
  );
  server = http2.createServer(handler);
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  h1 = http.createServer(handler as http.RequestListener);
  h1.listen(0, '127.0.0.1');
  await once(h1, 'listening');
  h1Url = `http://127.0.0.1:${(h1.address() as AddressInfo).port}`;
});
afterAll(async () => {
  // The clients' sessions stay open; end them so close() can finish.
  for (const s of sessions) s.destroy();
  h1.closeAllConnections();
  await Promise.all([
    new Promise<void>((resolve) => server.close(() => resolve())),
    new Promise<void>((resolve) => h1.close(() => resolve())),
  ]);
});
beforeEach(() => {
  fallbackCalls = [];
  crashes = [];
});

const request = (topic: string) => create(PolicyCheckRequestSchema, { topic, tenant: 'acme', jobId: 'j1' });

/** The message framed as one gRPC envelope (flags byte, big-endian length). */
function envelope(bytes: Uint8Array, flags = 0): Buffer {
  const frame = Buffer.alloc(5 + bytes.length);
  frame[0] = flags;
  frame.writeUInt32BE(bytes.length, 1);
  frame.set(bytes, 5);
  return frame;
}

/** One raw gRPC call; grpc-status/-message from the trailers (or the headers of a trailers-only answer). */
async function rawCall(
  body: Buffer,
  headers: http2.OutgoingHttpHeaders = {},
): Promise<{ status: string; message: string; contentType: string; body: Buffer }> {
  const session = http2.connect(url);
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({
        ':method': 'POST',
        ':path': '/cordum.agent.v1.SafetyKernel/Check',
        'content-type': 'application/grpc',
        te: 'trailers',
        ...headers,
      });
      let responseHeaders: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      req.on('response', (h) => {
        responseHeaders = h;
      });
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('trailers', (t) =>
        resolve({
          status: String(t['grpc-status']),
          message: decodeURIComponent(String(t['grpc-message'] ?? '')),
          contentType: String(responseHeaders['content-type']),
          body: Buffer.concat(chunks),
        }),
      );
      req.on('end', () => {
        if (responseHeaders['grpc-status'] !== undefined) {
          resolve({
            status: String(responseHeaders['grpc-status']),
            message: decodeURIComponent(String(responseHeaders['grpc-message'] ?? '')),
            contentType: String(responseHeaders['content-type']),
            body: Buffer.concat(chunks),
          });
        }
      });
      req.on('error', reject);
      req.end(body);
    });
  } finally {
    session.close();
  }
}

describe('withGrpcUnaryFastPath', () => {
  it('answers binary gRPC for its methods itself, readable by a stock gRPC client', async () => {
    const client = createClient(SafetyKernel, createGrpcTransport({ baseUrl: url }));
    const response = await client.check(request('job.echo'), { timeoutMs: 5000 });
    expect(response.decision).toBe(DecisionType.ALLOW);
    expect(response.ruleId).toBe('rule-for-job.echo');
    const raw = await rawCall(envelope(toBinary(PolicyCheckRequestSchema, request('job.raw'))), {
      'content-type': 'application/grpc+proto',
    });
    expect(raw.status).toBe('0');
    expect(raw.contentType).toBe('application/grpc+proto');
    expect(raw.body.readUInt32BE(1)).toBe(raw.body.length - 5);
    expect(fallbackCalls).toEqual([]);
  });

  it('hands every other request to the fallback: other methods, protocols, encodings and HTTP/1.1', async () => {
    const grpc = createClient(SafetyKernel, createGrpcTransport({ baseUrl: url }));
    expect((await grpc.evaluate(request('job.eval'))).ruleId).toBe('rule-for-job.eval');
    const connectH2 = createClient(
      SafetyKernel,
      createConnectTransport({ baseUrl: url, httpVersion: '2', useBinaryFormat: true }),
    );
    expect((await connectH2.check(request('job.connect'))).ruleId).toBe('rule-for-job.connect');
    const json = await rawCall(envelope(Buffer.from('{"topic":"job.json"}')), {
      'content-type': 'application/grpc+json',
    });
    expect(json.status).toBe('0');
    const gzip = await rawCall(envelope(toBinary(PolicyCheckRequestSchema, request('job.gz'))), {
      'grpc-encoding': 'gzip',
    });
    // Connect's handler, not the fast path, judges the gzip envelope (here: flag 0, so it reads it as is).
    expect(gzip.status).toBe('0');
    // gRPC needs HTTP/2: over HTTP/1.1 the fallback (Connect) answers, whatever the content type says.
    const overH1 = await fetch(`${h1Url}/cordum.agent.v1.SafetyKernel/Check`, {
      method: 'POST',
      headers: { 'content-type': 'application/grpc' },
      body: envelope(toBinary(PolicyCheckRequestSchema, request('job.h1'))),
    });
    await overH1.arrayBuffer();
    expect(fallbackCalls).toEqual([
      'POST /cordum.agent.v1.SafetyKernel/Evaluate application/grpc+proto',
      'POST /cordum.agent.v1.SafetyKernel/Check application/proto',
      'POST /cordum.agent.v1.SafetyKernel/Check application/grpc+json',
      'POST /cordum.agent.v1.SafetyKernel/Check application/grpc',
      'POST /cordum.agent.v1.SafetyKernel/Check application/grpc',
    ]);
  });

  it('sends errors as gRPC trailers the way Connect does: code, message and details', async () => {
    const client = createClient(SafetyKernel, createGrpcTransport({ baseUrl: url }));
    const err = await client.check(request('job.fail.connect')).catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toBe('topic: not allowed here');
    expect((err as ConnectError).findDetails(BundleIssueSchema)).toMatchObject([{ file: 'b.yaml', line: 3 }]);

    const crash = await client.check(request('job.fail.crash')).catch((e: unknown) => ConnectError.from(e));
    expect((crash as ConnectError).code).toBe(Code.Internal);
    expect((crash as ConnectError).rawMessage).toBe('internal error in cordum.agent.v1.SafetyKernel/Check');
    expect(crashes).toHaveLength(1);
    expect(fallbackCalls).toEqual([]);
  });

  it('answers broken requests with the codes Connect gives, and keeps serving', async () => {
    const good = toBinary(PolicyCheckRequestSchema, request('job.echo'));
    const cases: [string, Buffer, http2.OutgoingHttpHeaders, Code, RegExp][] = [
      [
        'undecodable message',
        envelope(Buffer.from([0x12, 0xff, 0xff, 0xff, 0xff, 0x0f])),
        {},
        Code.InvalidArgument,
        /^cannot decode cordum\.agent\.v1\.PolicyCheckRequest: /,
      ],
      ['no message', Buffer.alloc(0), {}, Code.Unimplemented, /missing input message/],
      ['short prefix', Buffer.from([0, 0, 0]), {}, Code.InvalidArgument, /incomplete envelope/],
      ['truncated message', envelope(good).subarray(0, 8), {}, Code.InvalidArgument, /incomplete envelope/],
      ['two messages', Buffer.concat([envelope(good), envelope(good)]), {}, Code.Unimplemented, /extra input message/],
      ['compressed flag without an encoding', envelope(good, 1), {}, Code.Internal, /compressed envelope/],
      [
        'oversized',
        envelope(Buffer.alloc(70 * 1024)),
        {},
        Code.ResourceExhausted,
        /larger than configured readMaxBytes 65536/,
      ],
      [
        'bad grpc-timeout',
        envelope(good),
        { 'grpc-timeout': 'soon' },
        Code.InvalidArgument,
        /invalid grpc timeout value: soon/,
      ],
    ];
    for (const [name, body, headers, code, message] of cases) {
      const answer = await rawCall(body, headers);
      expect({ name, status: answer.status }).toEqual({ name, status: String(code) });
      expect(answer.message).toMatch(message);
    }
    expect(fallbackCalls).toEqual([]);
    expect((await rawCall(envelope(good), { 'grpc-timeout': '100m' })).status).toBe('0');
  });

  it('survives a client that resets the stream mid-request', async () => {
    const session = http2.connect(url);
    const req = session.request({
      ':method': 'POST',
      ':path': '/cordum.agent.v1.SafetyKernel/Check',
      'content-type': 'application/grpc',
    });
    req.on('error', () => {});
    req.write(Buffer.from([0, 0, 0, 1, 0]));
    await new Promise((r) => setTimeout(r, 20));
    req.close(http2.constants.NGHTTP2_CANCEL);
    await new Promise((r) => setTimeout(r, 20));
    session.close();
    const client = createClient(SafetyKernel, createGrpcTransport({ baseUrl: url }));
    expect((await client.check(request('job.after'))).ruleId).toBe('rule-for-job.after');
  });
});
