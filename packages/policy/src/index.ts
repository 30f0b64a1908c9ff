/**
 * @capstan/policy — the safety kernel's policy engine: YAML bundles validated with positions, first-match rules
 * with CEL `when:` conditions compiled once per bundle, velocity limits over a sliding window (in memory or in
 * Redis), explain traces and embedded bundle tests. Pure except for the Redis velocity adapter.
 */
export { type BundleTestResult, runBundleTests } from './bundle-tests.js';
export { PolicyArgumentError, PolicyBundleError, type PolicyBundleIssue, PolicyError } from './errors.js';
export { type EvaluateOptions, evaluate } from './evaluate.js';
export { type ExplainOptions, type Explanation, explain, type TraceEntry } from './explain.js';
export { DEFAULT_MAX_BUNDLE_BYTES, DEFAULT_RULE_ID } from './limits.js';
export { type LoadBundleOptions, loadBundle } from './load-bundle.js';
export { type LoadBundleTestsOptions, loadBundleTests } from './load-bundle-tests.js';
export {
  createMemoryVelocityCounter,
  type MemoryVelocityCounter,
  type MemoryVelocityCounterOptions,
} from './memory-velocity-counter.js';
export type { BundleTestCase, CompiledRule, PolicyBundle } from './policy-bundle.js';
export { createRedisVelocityCounter, type RedisVelocityCounterOptions } from './redis-velocity-counter.js';
export type { VelocityCounter, VelocityHit, VelocityHitOptions } from './velocity-counter.js';
