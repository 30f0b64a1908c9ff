// `pnpm bench [--quick] [scenario...]`: runs scenarios, prints figures and ratios, writes bench/results/<scenario>.json.
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { buildDist } from './lib/build-dist.js';
import { spawnFromDistByDefault } from './lib/processes.js';
import { dispatchOverhead } from './scenarios/dispatch-overhead.js';
import { e2eNoop } from './scenarios/e2e-noop.js';
import { e2eRest } from './scenarios/e2e-rest.js';
import { footprint } from './scenarios/footprint.js';
import { gatewayHttp } from './scenarios/gateway-http.js';
import { overload } from './scenarios/overload.js';
import { payload1mb } from './scenarios/payload-1mb.js';
import { policyInproc } from './scenarios/policy-inproc.js';
import { policyRpc } from './scenarios/policy-rpc.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const wanted = args.filter((a) => !a.startsWith('--'));
const log = (line: string) => console.log(`  ${line}`);

// Quick mode (CI smoke, all scenarios in under two minutes) shrinks every phase and runs only the headline variant
// of e2e-noop and dispatch-overhead (beside its peer); full mode is for the numbers the README shows.
const scenarios: Record<string, () => Promise<Record<string, unknown>>> = {
  'e2e-noop': () =>
    e2eNoop({
      jobs: quick ? 600 : 20_000,
      window: 500,
      warmup: quick ? 200 : 2000,
      latencySeconds: quick ? 1 : 5,
      concurrency: 50,
      ...(quick ? { variants: ['kernel'] as const } : {}),
      log,
    }),
  'e2e-rest': () =>
    e2eRest({
      jobs: quick ? 300 : 10_000,
      window: 500,
      warmup: quick ? 100 : 1000,
      latencySeconds: quick ? 1 : 5,
      concurrency: 50,
      connections: 50,
      log,
    }),
  overload: () =>
    overload({
      capacityJobs: quick ? 300 : 10_000,
      window: 500,
      warmup: quick ? 100 : 1000,
      halfLoadSeconds: quick ? 1 : 10,
      overloadSeconds: quick ? 3 : 60,
      factor: 5,
      backlogDelayMs: 50,
      gatewayMaxInFlight: 128,
      concurrency: 50,
      connections: 256,
      log,
    }),
  'dispatch-overhead': () =>
    dispatchOverhead({
      jobs: quick ? 100 : 2000,
      roundTrips: quick ? 300 : 5000,
      ...(quick ? { variants: ['kernel'] as const } : {}),
      log,
    }),
  'payload-1mb': () => payload1mb({ jobs: quick ? 30 : 300, log }),
  footprint: () => footprint({ seconds: quick ? 1 : 15, window: quick ? 100 : 500, log }),
  'policy-inproc': () => policyInproc({ iterations: quick ? 30_000 : 200_000, log }),
  'gateway-http': () => gatewayHttp({ durationSec: quick ? 1 : 15, connections: 50, log }),
  'policy-rpc': () =>
    policyRpc({
      calls: quick ? 1_000 : 50_000,
      concurrency: 32,
      latencyCalls: quick ? 300 : 20_000,
      floorIterations: quick ? 5_000 : 50_000,
      log,
    }),
};

const unknown = wanted.filter((w) => !(w in scenarios));
if (unknown.length > 0) {
  console.error(`unknown scenario ${unknown.join(', ')}: expected one of ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
// Bench processes run like a deployment: compiled JavaScript (packages' dist/, bench processes transpiled). If the
// build fails (e.g. a package mid-edit), they run from the TypeScript sources instead, and the results say so.
const packages = await buildDist().then(
  () => 'dist' as const,
  (err: Error) => {
    console.warn(`bench processes run from TypeScript sources: ${err.message}`);
    return 'source' as const;
  },
);
spawnFromDistByDefault(packages === 'dist');
// Full runs write bench/results/<scenario>.json (what the README table shows); smoke runs write under quick/ so they
// never replace real numbers.
const results = new URL(quick ? '../results/quick/' : '../results/', import.meta.url);
await mkdir(results, { recursive: true });
const runStarted = Date.now();
const failed: string[] = [];
for (const [name, run] of Object.entries(scenarios)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  console.log(`▶ ${name}${quick ? ' (quick)' : ''}`);
  const started = Date.now();
  // The machine's load before and after: the figures of a busy machine are not comparable with a quiet one's.
  const loadBefore = loadavg().map((l) => Math.round(l * 100) / 100);
  let result: Record<string, unknown>;
  try {
    result = await run();
  } catch (err) {
    // One broken scenario does not hide the others' figures; the run still fails at the end.
    console.error(`✖ ${name} failed:`, err);
    failed.push(name);
    continue;
  }
  const record = {
    ...result,
    mode: quick ? 'quick' : 'full',
    packages,
    machine: {
      cpus: cpus().length,
      node: process.version,
      loadavgBefore: loadBefore,
      loadavgAfter: loadavg().map((l) => Math.round(l * 100) / 100),
    },
    at: new Date().toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
  };
  // BENCH_ONLY (a profiling aid that skips the peer) never overwrites the recorded results.
  if (!process.env['BENCH_ONLY'])
    await writeFile(new URL(`${name}.json`, results), `${JSON.stringify(record, null, 2)}\n`);
  console.log(JSON.stringify(record, null, 2));
}
console.log(
  `done in ${Math.round((Date.now() - runStarted) / 1000)} s; results in ${fileURLToPath(results)}` +
    (quick ? '' : ' (regenerate the README table with `npm run bench:table`)'),
);
if (failed.length > 0) {
  console.error(`failed: ${failed.join(', ')}`);
  process.exitCode = 1;
}
