/**
 * Benchmark: in-process evaluate() of a 50-rule bundle with CEL conditions, beside the raw @bufbuild/cel evaluation
 * of the same expressions (the floor: the CEL work evaluate() cannot avoid for each request).
 * Run: node --conditions=@capstan/source --import tsx packages/policy/bench/evaluate.bench.ts
 */
import { celEnv, objectType, parse, plan } from '@bufbuild/cel';
import { create, createRegistry } from '@bufbuild/protobuf';
import { ActorType } from '@capstan/gen/cordum/agent/v1/job_pb';
import {
  file_cordum_agent_v1_safety,
  type PolicyCheckRequest,
  PolicyCheckRequestSchema,
} from '@capstan/gen/cordum/agent/v1/safety_pb';
import { evaluate, loadBundle } from '../src/index.js';

const RULES = 50;
const WARMUP = 20_000;
const ITERATIONS = 200_000;

/** Rule i: a CEL condition of one of five shapes (map lookup, arithmetic, list macro, string method, size). */
function whenOf(i: number): string {
  switch (i % 5) {
    case 0:
      return `request.meta.labels['env'] == 'prod'`;
    case 1:
      return `request.estimated_cost > ${(i % 7) + 0.5}`;
    case 2:
      return `request.meta.risk_tags.exists(t, t == 'destructive')`;
    case 3:
      return `request.tenant.startsWith('acme') && request.meta.actor_type == 1`;
    default:
      return `size(request.meta.requires) < 3 && request.priority != 3`;
  }
}

/** Every 10th rule matches all topics (so several CEL conditions run per request); the rest match one service. */
const broad = (i: number) => i % 10 === 9;
const rules = Array.from({ length: RULES }, (_, i) => ({
  id: `rule-${i}`,
  topic: broad(i) ? 'job.>' : `job.svc${i}.*`,
  when: broad(i) ? `request.meta.labels['never'] == 'x' || request.input_size_bytes > 1000000000` : whenOf(i),
  decision: ['allow', 'deny', 'require_human', 'throttle'][i % 4] as string,
}));
const yaml = [
  'version: bench',
  'default_decision: deny',
  'rules:',
  ...rules.map(
    (r) =>
      `  - { id: ${r.id}, match: { topics: ["${r.topic}"], tenants: [acme, globex] }, when: ${JSON.stringify(r.when)}, decision: ${r.decision} }`,
  ),
].join('\n');
const bundle = loadBundle(yaml, { file: 'bench.yaml' });

// The floor: the same expressions planned directly with @bufbuild/cel in the same kind of environment.
const env = celEnv({
  registry: createRegistry(file_cordum_agent_v1_safety),
  variables: { request: objectType(PolicyCheckRequestSchema) },
});
const programs = rules.map((r) => plan(env, parse(r.when)));

/** Requests spread over the services; a few topics match no rule so the default decision is measured too. */
const requests: PolicyCheckRequest[] = Array.from({ length: 1024 }, (_, n) =>
  create(PolicyCheckRequestSchema, {
    topic: n % 16 === 15 ? 'job.unknown.x' : `job.svc${(n * 7) % RULES}.run`,
    tenant: n % 3 === 0 ? 'globex' : 'acme',
    estimatedCost: n % 9,
    meta: {
      actorType: n % 2 === 0 ? ActorType.HUMAN : ActorType.SERVICE,
      riskTags: n % 4 === 0 ? ['destructive'] : ['cheap'],
      requires: n % 5 === 0 ? ['gpu'] : [],
      labels: { env: n % 2 === 0 ? 'prod' : 'dev', never: 'no' },
    },
  }),
);

/** For each request, the rules whose match block holds, in order: the CEL evaluate() must run, up to a true one. */
const topicMatches = (i: number, topic: string) => broad(i) || topic.startsWith(`job.svc${i}.`);
const celPlan = requests.map((req) => rules.map((_, i) => i).filter((i) => topicMatches(i, req.topic)));

function percentiles(samples: Float64Array): { p50: number; p99: number; mean: number } {
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return { p50: at(0.5), p99: at(0.99), mean: sorted.reduce((a, b) => a + b, 0) / sorted.length };
}

function rawFloor(n: number): void {
  const req = requests[n % requests.length] as PolicyCheckRequest;
  for (const i of celPlan[n % requests.length] as number[]) {
    if ((programs[i] as (typeof programs)[number])({ request: req }) === true) return;
  }
}

async function measureEvaluate(): Promise<Float64Array> {
  for (let n = 0; n < WARMUP; n++) await evaluate(bundle, requests[n % requests.length] as PolicyCheckRequest);
  const samples = new Float64Array(ITERATIONS);
  for (let n = 0; n < ITERATIONS; n++) {
    const req = requests[n % requests.length] as PolicyCheckRequest;
    const t0 = process.hrtime.bigint();
    await evaluate(bundle, req);
    samples[n] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  return samples;
}

function measureRaw(): Float64Array {
  for (let n = 0; n < WARMUP; n++) rawFloor(n);
  const samples = new Float64Array(ITERATIONS);
  for (let n = 0; n < ITERATIONS; n++) {
    const t0 = process.hrtime.bigint();
    rawFloor(n);
    samples[n] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  return samples;
}

const celPerRequest = celPlan.reduce((a, p) => a + p.length, 0) / celPlan.length;
const raw = percentiles(measureRaw());
const engine = percentiles(await measureEvaluate());
const fmt = (x: number) => x.toFixed(2).padStart(8);
console.log(`policy evaluate: ${RULES} rules with CEL, ${ITERATIONS} requests (node ${process.version})`);
console.log(`  CEL expressions per request (upper bound, up to the first true): ${celPerRequest.toFixed(2)}`);
console.log('  scenario                         p50 µs   p99 µs  mean µs');
console.log(`  evaluate() 50-rule bundle      ${fmt(engine.p50)} ${fmt(engine.p99)} ${fmt(engine.mean)}`);
console.log(`  raw @bufbuild/cel (floor)      ${fmt(raw.p50)} ${fmt(raw.p99)} ${fmt(raw.mean)}`);
console.log(
  `  ratio evaluate / raw           ${fmt(engine.p50 / raw.p50)}x${fmt(engine.p99 / raw.p99)}x${fmt(engine.mean / raw.mean)}x`,
);
console.log(
  `  targets: p50 <= 20 µs ${engine.p50 <= 20 ? 'met' : 'MISSED'}, p99 <= 100 µs ${engine.p99 <= 100 ? 'met' : 'MISSED'}`,
);
