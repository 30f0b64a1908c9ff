// `pnpm bench [--quick] [scenario...]`: runs scenarios, prints figures and ratios, writes bench/results/<scenario>.json.
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { e2eNoop } from './scenarios/e2e-noop.js';
import { gatewayHttp } from './scenarios/gateway-http.js';
import { policyInproc } from './scenarios/policy-inproc.js';
import { policyRpc } from './scenarios/policy-rpc.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const wanted = args.filter((a) => !a.startsWith('--'));
const log = (line: string) => console.log(`  ${line}`);

const scenarios: Record<string, () => Promise<Record<string, unknown>>> = {
  'e2e-noop': () => e2eNoop({ jobs: quick ? 3000 : 20_000, window: 500, concurrency: 50, log }),
  'policy-inproc': () => policyInproc({ iterations: quick ? 50_000 : 200_000, log }),
  'gateway-http': () => gatewayHttp({ durationSec: quick ? 5 : 15, connections: 50, log }),
  'policy-rpc': () =>
    policyRpc({ calls: quick ? 10_000 : 50_000, concurrency: 32, latencyCalls: quick ? 5_000 : 20_000, log }),
};

const results = new URL('../results/', import.meta.url);
await mkdir(results, { recursive: true });
for (const [name, run] of Object.entries(scenarios)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  console.log(`▶ ${name}${quick ? ' (quick)' : ''}`);
  const started = Date.now();
  const result = await run();
  const record = {
    ...result,
    mode: quick ? 'quick' : 'full',
    machine: { cpus: cpus().length, node: process.version },
    at: new Date().toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
  };
  // BENCH_ONLY (a profiling aid that skips the peer) never overwrites the recorded results.
  if (!process.env['BENCH_ONLY'])
    await writeFile(new URL(`${name}.json`, results), `${JSON.stringify(record, null, 2)}\n`);
  console.log(JSON.stringify(record, null, 2));
}
