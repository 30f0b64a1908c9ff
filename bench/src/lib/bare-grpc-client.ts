/** A unary gRPC call over one node:http2 session with nothing else (no Connect): the client half of a floor. */
import http2 from 'node:http2';
import { type DescMessage, type MessageShape, toBinary } from '@bufbuild/protobuf';
import { encodeEnvelope } from '@connectrpc/connect/protocol';

/** A protobuf message as one gRPC length-prefixed message (uncompressed: flag 0, 4-byte big-endian length). */
export function grpcFrame<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Uint8Array {
  return encodeEnvelope(0, toBinary(schema, message));
}

/** A bare client for `path` (e.g. `/cordum.agent.v1.SafetyKernel/Check`); call(i) sends `requests[i % n]`. */
export function bareGrpcClient<Desc extends DescMessage>(
  baseUrl: string,
  path: string,
  schema: Desc,
  requests: readonly MessageShape<Desc>[],
): { call(i: number): Promise<void>; close(): void } {
  const session = http2.connect(baseUrl);
  session.on('error', () => {});
  const frames = requests.map((r) => grpcFrame(schema, r));
  return {
    call: (i) =>
      new Promise<void>((resolve, reject) => {
        const req = session.request({
          ':method': 'POST',
          ':path': path,
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        // grpc-status comes in the trailers, or in the headers of a trailers-only (error) answer.
        let status: unknown;
        req.on('response', (headers) => {
          status = headers['grpc-status'];
        });
        req.on('trailers', (trailers) => {
          status = trailers['grpc-status'];
        });
        req.resume();
        req.on('end', () => (status === '0' ? resolve() : reject(new Error(`grpc-status ${String(status)}`))));
        req.on('error', reject);
        req.end(frames[i % frames.length]);
      }),
    close: () => session.close(),
  };
}
