import { evaluate, loadBundle } from '@capstan/policy';
import {
  celExpressionsPerRequest,
  POLICY_BUNDLE_YAML,
  POLICY_REQUESTS,
  POLICY_RULES,
  rawCelFloor,
  sampleAsync,
  sampleSync,
} from '../lib/policy-fixture.js';
import { round, summarizeMicros } from '../lib/stats.js';

/** Options of the policy-inproc scenario. */
export interface PolicyInprocOptions {
  iterations: number;
  log: (line: string) => void;
}

/**
 * In-process `evaluate()` of a 50-rule bundle with CEL conditions, beside the raw @bufbuild/cel evaluation of the
 * same expressions (the floor). Targets: p50 ≤ 20 µs, p99 ≤ 100 µs.
 */
export async function policyInproc(opts: PolicyInprocOptions) {
  const bundle = loadBundle(POLICY_BUNDLE_YAML, { file: 'bench.yaml' });
  const warmup = Math.min(20_000, opts.iterations);
  const floor = summarizeMicros(sampleSync(rawCelFloor, opts.iterations, warmup));
  const engine = summarizeMicros(
    await sampleAsync((n) => evaluate(bundle, POLICY_REQUESTS[n % POLICY_REQUESTS.length]!), opts.iterations, warmup),
  );
  opts.log(`${POLICY_RULES} rules, ${round(celExpressionsPerRequest)} candidate CEL expressions per request`);
  opts.log(`evaluate()        p50 ${engine.p50} µs  p99 ${engine.p99} µs`);
  opts.log(`raw CEL (floor)   p50 ${floor.p50} µs  p99 ${floor.p99} µs`);
  opts.log(`ratio             p50 ${round(engine.p50 / floor.p50)}×  p99 ${round(engine.p99 / floor.p99)}×`);
  const targets = { p50Us: 20, p99Us: 100 };
  const met = engine.p50 <= targets.p50Us && engine.p99 <= targets.p99Us;
  opts.log(`targets p50 ≤ 20 µs, p99 ≤ 100 µs: ${met ? 'met' : 'MISSED'}`);
  return {
    rules: POLICY_RULES,
    iterations: opts.iterations,
    evaluateUs: engine,
    rawCelUs: floor,
    ratio: { p50: round(engine.p50 / floor.p50), p99: round(engine.p99 / floor.p99) },
    targets: { ...targets, met },
  };
}
