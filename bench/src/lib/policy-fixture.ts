/**
 * The policy benchmarks' fixture: a 50-rule bundle with CEL `when:` conditions, requests spread over its rules,
 * and the floor — the same CEL expressions planned directly with @bufbuild/cel, run for each request up to the
 * first true one (the CEL work any evaluator has to do).
 */
import { celEnv, objectType, parse, plan } from '@bufbuild/cel';
import { create, createRegistry } from '@bufbuild/protobuf';
import { ActorType } from '@capstan/gen/cordum/agent/v1/job_pb';
import {
  file_cordum_agent_v1_safety,
  type PolicyCheckRequest,
  PolicyCheckRequestSchema,
} from '@capstan/gen/cordum/agent/v1/safety_pb';

/** Rules in the bundle. */
export const POLICY_RULES = 50;

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
const rules = Array.from({ length: POLICY_RULES }, (_, i) => ({
  id: `rule-${i}`,
  topic: broad(i) ? 'job.>' : `job.svc${i}.*`,
  when: broad(i) ? `request.meta.labels['never'] == 'x' || request.input_size_bytes > 1000000000` : whenOf(i),
  // No require_human here: over the network every such Check would create an approval row.
  decision: ['allow', 'deny', 'allow', 'throttle'][i % 4] as string,
}));

/** The bundle's YAML text. */
export const POLICY_BUNDLE_YAML = [
  'version: bench',
  'default_decision: deny',
  'rules:',
  ...rules.map(
    (r) =>
      `  - { id: ${r.id}, match: { topics: ["${r.topic}"], tenants: [acme, globex] }, when: ${JSON.stringify(r.when)}, decision: ${r.decision} }`,
  ),
].join('\n');

/** Requests spread over the services; a few topics match no rule so the default decision is measured too. */
export const POLICY_REQUESTS: readonly PolicyCheckRequest[] = Array.from({ length: 1024 }, (_, n) =>
  create(PolicyCheckRequestSchema, {
    jobId: `bench-${n}`,
    topic: n % 16 === 15 ? 'job.unknown.x' : `job.svc${(n * 7) % POLICY_RULES}.run`,
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

const env = celEnv({
  registry: createRegistry(file_cordum_agent_v1_safety),
  variables: { request: objectType(PolicyCheckRequestSchema) },
});
const programs = rules.map((r) => plan(env, parse(r.when)));
const topicMatches = (i: number, topic: string) => broad(i) || topic.startsWith(`job.svc${i}.`);
/** For each request, the rules whose match block holds, in order: the CEL an evaluator must run. */
const celPlan = POLICY_REQUESTS.map((req) => rules.map((_, i) => i).filter((i) => topicMatches(i, req.topic)));

/** Average CEL expressions per request (upper bound: evaluation stops at the first true one). */
export const celExpressionsPerRequest = celPlan.reduce((a, p) => a + p.length, 0) / celPlan.length;

/** The floor for request `n`: raw @bufbuild/cel programs of its candidate rules, up to the first true one. */
export function rawCelFloor(n: number): void {
  const req = POLICY_REQUESTS[n % POLICY_REQUESTS.length]!;
  for (const i of celPlan[n % POLICY_REQUESTS.length]!) {
    if (programs[i]!({ request: req }) === true) return;
  }
}

/** Per-call latency samples (µs) of a synchronous function. */
export function sampleSync(fn: (n: number) => void, iterations: number, warmup: number): number[] {
  for (let n = 0; n < warmup; n++) fn(n);
  const samples: number[] = new Array(iterations);
  for (let n = 0; n < iterations; n++) {
    const t0 = process.hrtime.bigint();
    fn(n);
    samples[n] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  return samples;
}

/** Per-call latency samples (µs) of an async function, one call at a time. */
export async function sampleAsync(fn: (n: number) => Promise<unknown>, iterations: number, warmup: number) {
  for (let n = 0; n < warmup; n++) await fn(n);
  const samples: number[] = new Array(iterations);
  for (let n = 0; n < iterations; n++) {
    const t0 = process.hrtime.bigint();
    await fn(n);
    samples[n] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  return samples;
}
