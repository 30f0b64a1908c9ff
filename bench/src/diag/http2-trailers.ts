/**
 * `node --conditions=@capstan/source --import tsx bench/src/diag/http2-trailers.ts`: the bare node:http2 round trip
 * of a gRPC-sized unary call, paced, with the status sent the way gRPC must send it — trailers after the message,
 * which node:http2 writes from a `setImmediate`, one event-loop turn and one more TCP segment after headers and
 * message — and, for comparison only (not valid gRPC for a response with a message), in the response headers, so
 * everything leaves in one write. Shows how much of the HTTP/2 floor's p99 is that second write and the second
 * wake-up it costs the client on a 2-vCPU machine. A diagnostic, not a benchmark (see docs/benchmarks.md).
 */
import { fork } from 'node:child_process';
import http2 from 'node:http2';
import { fileURLToPath } from 'node:url';
import { pacedLatency } from '../lib/paced-latency.js';
import { summarizeMicros } from '../lib/stats.js';

const answer = Buffer.alloc(5 + 40);
answer.writeUInt32BE(40, 1);

if (process.argv[2] === 'server') {
  const withTrailers = process.argv[3] === 'trailers';
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.resume();
    stream.on('end', () => {
      if (withTrailers) {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      } else {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' });
      }
      stream.end(answer);
    });
  });
  server.listen(0, '127.0.0.1', () => process.send?.((server.address() as { port: number }).port));
} else {
  const body = Buffer.alloc(5 + 300);
  body.writeUInt32BE(300, 1);
  for (const mode of ['trailers', 'status-in-headers', 'trailers', 'status-in-headers']) {
    const child = fork(fileURLToPath(import.meta.url), ['server', mode], { execArgv: process.execArgv });
    const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve(m as number)));
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const call = () =>
      new Promise<void>((resolve, reject) => {
        const req = session.request({
          ':method': 'POST',
          ':path': '/cordum.agent.v1.SafetyKernel/Check',
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        req.resume();
        req.on('end', resolve);
        req.on('error', reject);
        req.end(body);
      });
    for (let i = 0; i < 3000; i++) await call();
    for (const rate of [400, 1300]) {
      const s = summarizeMicros(await pacedLatency(call, rate, rate * 8));
      console.log(`${mode.padEnd(17)} ${rate}/s: p50 ${s.p50} p90 ${s.p90} p99 ${s.p99} µs`);
    }
    session.close();
    child.kill();
  }
}
