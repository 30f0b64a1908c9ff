import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sizeDelimitedEncode } from '@bufbuild/protobuf/wire';
import { PolicyCheckRequestSchema, SafetyKernel } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { evaluate, loadBundle } from '@capstan/policy';
import { createDatabase, migrateToLatest } from '@capstan/store';
import { freePort, startNats, startPostgres, startRedis } from '@capstan/testkit';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { bareGrpcClient } from '../lib/bare-grpc-client.js';
import { pacedLatency } from '../lib/paced-latency.js';
import { POLICY_BUNDLE_YAML, POLICY_REQUESTS, rawCelFloor, sampleAsync, sampleSync } from '../lib/policy-fixture.js';
import { cpuSeconds, spawnProc, stopProc } from '../lib/processes.js';
import { round, summarizeMicros } from '../lib/stats.js';

const execFileAsync = promisify(execFile);

/** The interop suite's Go client binary (`npm run test:interop` builds it), if it was built on this machine. */
const CAPGO = fileURLToPath(new URL('../../../.capstan/interop/bin/capgo', import.meta.url));

/** Check latency measured by grpc-go (`capgo checkload`) at the same pacing, or why it could not run. */
async function goCheckLatency(
  address: string,
  dir: string,
  rate: number,
  calls: number,
): Promise<{ ok: true; us: { p50: number; p90: number; p99: number; max: number } } | { ok: false; reason: string }> {
  if (!existsSync(CAPGO)) return { ok: false, reason: 'no .capstan/interop/bin/capgo; run npm run test:interop once' };
  const requests = join(dir, 'requests.bin');
  await writeFile(
    requests,
    Buffer.concat(POLICY_REQUESTS.map((r) => sizeDelimitedEncode(PolicyCheckRequestSchema, r))),
  );
  try {
    const { stdout } = await execFileAsync(CAPGO, [
      'checkload',
      '--kernel',
      address,
      '--requests',
      requests,
      '--rate',
      String(rate),
      '--n',
      String(calls),
    ]);
    const r = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, number>;
    return {
      ok: true,
      us: { p50: round(r['p50']!, 2), p90: round(r['p90']!, 2), p99: round(r['p99']!, 2), max: round(r['max']!, 2) },
    };
  } catch (err) {
    return { ok: false, reason: `capgo checkload failed: ${(err as Error).message.split('\n')[0]}` };
  }
}

const CHECK_PATH = `/${SafetyKernel.typeName}/${SafetyKernel.method.check.name}`;

/** Options of the policy-rpc scenario. */
export interface PolicyRpcOptions {
  /** Calls in the throughput phase. */
  calls: number;
  /** Calls in flight in the throughput phase. */
  concurrency: number;
  /** Calls in the latency phase (paced at a moderate rate). */
  latencyCalls: number;
  /** Iterations of the in-process floors (evaluate(), raw CEL). @default 50000 */
  floorIterations?: number;
  log: (line: string) => void;
}

/**
 * `Check` over the network: the safety kernel in its own process (50-rule bundle, Redis velocity counter, decisions
 * recorded in Postgres, snapshot announcements on NATS) called by a bare node:http2 gRPC client, with connect-node
 * and grpc-go callers beside it. Phases: throughput (closed loop) and latency at moderate load (open loop at a
 * quarter of the measured throughput, capped at 2,000 calls/s). Floors: the HTTP/2 round trip (a bare server
 * answering a constant), in-process `evaluate()` and the raw @bufbuild/cel evaluation of the same expressions.
 * Target: p99 ≤ 1 ms at moderate load.
 */
export async function policyRpc(opts: PolicyRpcOptions) {
  const [nats, redis, pg] = await Promise.all([startNats(), startRedis(), startPostgres()]);
  const dir = await mkdtemp(join(tmpdir(), 'capstan-bench-policy-'));
  try {
    const store = await createDatabase({ url: pg.url });
    await migrateToLatest(store.db);
    await store.close();
    const bundleFile = join(dir, 'bench.yaml');
    await writeFile(bundleFile, POLICY_BUNDLE_YAML);
    const port = await freePort();
    const kernel = await spawnProc('safety-kernel.ts', {
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      DATABASE_URL: pg.url,
      SAFETY_KERNEL_PORT: String(port),
      CAPSTAN_SAFETY_KERNEL_METRICS_PORT: '0',
      CAPSTAN_LISTEN_HOST: '127.0.0.1',
      CAPSTAN_POLICY_FILE: bundleFile,
      CAPSTAN_LOG_LEVEL: 'warn',
    });
    const url = `http://127.0.0.1:${port}`;
    // The kernel is measured with the thinnest gRPC client there is (bare node:http2), so the figure is the
    // kernel's and not a client's; connect-node and grpc-go callers are measured beside it.
    const bare = bareGrpcClient(url, CHECK_PATH, PolicyCheckRequestSchema, POLICY_REQUESTS);
    const client = createClient(SafetyKernel, createGrpcTransport({ baseUrl: url }));
    const connectCheck = (n: number) => client.check(POLICY_REQUESTS[n % POLICY_REQUESTS.length]!);
    try {
      // Warm up (JIT, connections), then the throughput phases: the kernel's capacity, and what a connect-node
      // caller gets out of it.
      for (let n = 0; n < Math.min(2000, opts.calls); n++) await bare.call(n);
      for (let n = 0; n < Math.min(2000, opts.calls); n++) await connectCheck(n);
      const closedLoop = async (call: (n: number) => Promise<unknown>) => {
        const t0 = performance.now();
        let next = 0;
        await Promise.all(
          Array.from({ length: opts.concurrency }, async () => {
            while (next < opts.calls) await call(next++);
          }),
        );
        return round(opts.calls / ((performance.now() - t0) / 1000), 0);
      };
      const cpu0 = cpuSeconds(kernel.pid!);
      const callsPerSec = await closedLoop(bare.call);
      const kernelCpuPer1000 = round(((cpuSeconds(kernel.pid!) - cpu0) / opts.calls) * 1000, 3);
      const connectCallsPerSec = await closedLoop(connectCheck);
      opts.log(
        `throughput: ${callsPerSec} Check/s with ${opts.concurrency} in flight (connect-node client: ${connectCallsPerSec}/s); kernel CPU ${kernelCpuPer1000} s per 1,000`,
      );

      // Latency at moderate load: paced calls, each timed on its own.
      const rate = Math.min(2000, Math.max(100, Math.floor(callsPerSec / 4)));
      const rpc = summarizeMicros(await pacedLatency(bare.call, rate, opts.latencyCalls));
      opts.log(`latency at ${rate} Check/s: p50 ${rpc.p50} µs  p99 ${rpc.p99} µs`);
      const viaConnect = summarizeMicros(await pacedLatency(connectCheck, rate, opts.latencyCalls));
      opts.log(`connect-node client:   p50 ${viaConnect.p50} µs  p99 ${viaConnect.p99} µs`);

      // The HTTP/2 floor: the same client and pacing against a bare node:http2 server in its own process that
      // writes a constant answer's gRPC bytes and trailers at once — what any gRPC round trip between two Node
      // processes costs here, with none of the kernel's work.
      const barePort = await freePort();
      const bareProc = await spawnProc('connect-floor.ts', { FLOOR_PORT: String(barePort), FLOOR_MODE: 'bare' });
      let http2Floor: ReturnType<typeof summarizeMicros>;
      try {
        const floorClient = bareGrpcClient(
          `http://127.0.0.1:${barePort}`,
          CHECK_PATH,
          PolicyCheckRequestSchema,
          POLICY_REQUESTS,
        );
        try {
          for (let n = 0; n < Math.min(2000, opts.calls / 5); n++) await floorClient.call(n);
          http2Floor = summarizeMicros(await pacedLatency(floorClient.call, rate, opts.latencyCalls));
        } finally {
          floorClient.close();
        }
      } finally {
        await stopProc(bareProc);
      }
      opts.log(`HTTP/2 floor (bare node:http2 both ends): p50 ${http2Floor.p50} µs  p99 ${http2Floor.p99} µs`);

      // A client that is not Node: grpc-go (capgo checkload, built by the interop suite) against the kernel.
      const goClient = await goCheckLatency(`127.0.0.1:${port}`, dir, rate, opts.latencyCalls);
      if (goClient.ok) opts.log(`grpc-go client:        p50 ${goClient.us.p50} µs  p99 ${goClient.us.p99} µs`);
      else opts.log(`grpc-go client: not run (${goClient.reason})`);

      const bundle = loadBundle(POLICY_BUNDLE_YAML, { file: 'bench.yaml' });
      const floorN = opts.floorIterations ?? 50_000;
      const inproc = summarizeMicros(
        await sampleAsync((n) => evaluate(bundle, POLICY_REQUESTS[n % POLICY_REQUESTS.length]!), floorN, floorN / 5),
      );
      const floor = summarizeMicros(sampleSync(rawCelFloor, floorN, floorN / 5));
      opts.log(`in-process evaluate(): p50 ${inproc.p50} µs  p99 ${inproc.p99} µs`);
      opts.log(`raw CEL (floor):       p50 ${floor.p50} µs  p99 ${floor.p99} µs`);
      opts.log(`ratio Check/raw CEL:   p50 ${round(rpc.p50 / floor.p50, 1)}×  p99 ${round(rpc.p99 / floor.p99, 1)}×`);
      opts.log(
        `ratio Check/HTTP/2 floor: p50 ${round(rpc.p50 / http2Floor.p50, 2)}×  p99 ${round(rpc.p99 / http2Floor.p99, 2)}×`,
      );
      const met = rpc.p99 <= 1000;
      opts.log(
        `target p99 ≤ 1 ms at moderate load: ${met ? 'met' : 'MISSED'} (kernel adds p50 ${round(rpc.p50 - http2Floor.p50, 0)} µs, p99 ${round(rpc.p99 - http2Floor.p99, 0)} µs over the HTTP/2 floor)`,
      );
      return {
        transport: 'gRPC over h2c (bare node:http2 client)',
        throughput: {
          calls: opts.calls,
          concurrency: opts.concurrency,
          callsPerSec,
          connectClientCallsPerSec: connectCallsPerSec,
          kernelCpuSecondsPer1000: kernelCpuPer1000,
        },
        latency: { ratePerSec: rate, calls: opts.latencyCalls, checkUs: rpc, connectClientUs: viaConnect },
        floors: { inprocEvaluateUs: inproc, rawCelUs: floor, http2Us: http2Floor },
        goClient: goClient.ok
          ? { client: 'grpc-go (capgo checkload)', checkUs: goClient.us }
          : { notRun: goClient.reason },
        ratio: {
          p50: round(rpc.p50 / floor.p50, 1),
          p99: round(rpc.p99 / floor.p99, 1),
          http2FloorP50: round(rpc.p50 / http2Floor.p50, 2),
          http2FloorP99: round(rpc.p99 / http2Floor.p99, 2),
        },
        targets: { p99Us: 1000, met },
      };
    } finally {
      bare.close();
      await stopProc(kernel);
    }
  } finally {
    await Promise.all([nats.stop(), redis.stop(), pg.stop()]);
    await rm(dir, { recursive: true, force: true });
  }
}
