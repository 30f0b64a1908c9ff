/**
 * `node --conditions=@capstan/source --import tsx bench/src/diag/check-sweep.ts [rates]` (default 50,100,200,400):
 * Check latency at several paced rates — the kernel and the constant-answer Connect floor, each through the
 * connect-node client and through a bare node:http2 client — to separate client, server adapter and kernel, and to
 * show how paced latency on this VM depends on the rate. A diagnostic, not a benchmark (see docs/benchmarks.md).
 */
import { PolicyCheckRequestSchema, SafetyKernel } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { freePort } from '@capstan/testkit';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { bareGrpcClient } from '../lib/bare-grpc-client.js';
import { pacedLatency } from '../lib/paced-latency.js';
import { POLICY_BUNDLE_YAML, POLICY_REQUESTS } from '../lib/policy-fixture.js';
import { spawnProc, stopProc } from '../lib/processes.js';
import { startKernel, startServers } from '../lib/stack.js';
import { summarizeMicros } from '../lib/stats.js';

const servers = await startServers();
const kernelProc = await startKernel(servers, POLICY_BUNDLE_YAML);
const floorPort = await freePort();
const floorUrl = `http://127.0.0.1:${floorPort}`;
const floor = await spawnProc('connect-floor.ts', { FLOOR_PORT: String(floorPort) });
const mk = (baseUrl: string) => createClient(SafetyKernel, createGrpcTransport({ baseUrl }));
const k = mk(kernelProc.url);
const f = mk(floorUrl);
for (let n = 0; n < 2000; n++) await k.check(POLICY_REQUESTS[n % POLICY_REQUESTS.length]!);
for (let n = 0; n < 2000; n++) await f.check(POLICY_REQUESTS[n % POLICY_REQUESTS.length]!);
// A bare node:http2 gRPC client (no Connect) against the same servers, to split client from server cost.
const raw = (baseUrl: string) =>
  bareGrpcClient(baseUrl, '/cordum.agent.v1.SafetyKernel/Check', PolicyCheckRequestSchema, POLICY_REQUESTS).call;
const rk = raw(kernelProc.url);
const rf = raw(floorUrl);
for (let n = 0; n < 2000; n++) await rk(n);
for (let n = 0; n < 2000; n++) await rf(n);
for (const rate of (process.argv[2] ?? '50,100,200,400').split(',').map(Number)) {
  const calls = Math.max(1000, rate * 10);
  const fs = summarizeMicros(
    await pacedLatency((n) => f.check(POLICY_REQUESTS[n % POLICY_REQUESTS.length]!), rate, calls),
  );
  const ks = summarizeMicros(
    await pacedLatency((n) => k.check(POLICY_REQUESTS[n % POLICY_REQUESTS.length]!), rate, calls),
  );
  const rfs = summarizeMicros(await pacedLatency(rf, rate, calls));
  const rks = summarizeMicros(await pacedLatency(rk, rate, calls));
  console.log(
    `rate ${rate}/s: raw-h2 client: floor p50 ${rfs.p50} p99 ${rfs.p99} | kernel p50 ${rks.p50} p99 ${rks.p99}`,
  );
  console.log(
    `rate ${rate}/s: floor p50 ${fs.p50} p90 ${fs.p90} p99 ${fs.p99} | kernel p50 ${ks.p50} p90 ${ks.p90} p99 ${ks.p99}`,
  );
}
await kernelProc.stop();
await stopProc(floor);
await servers.stop();
