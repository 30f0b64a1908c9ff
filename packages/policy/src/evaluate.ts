import type { PolicyCheckRequest, PolicyCheckResponse } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { defaultResponse, ruleResponse } from './build-response.js';
import { PolicyArgumentError } from './errors.js';
import type { PolicyBundle } from './policy-bundle.js';
import { createRequestView } from './request-view.js';
import type { VelocityCounter } from './velocity-counter.js';

/** Options of `evaluate`. */
export interface EvaluateOptions {
  /** Counter for velocity rules; required once a velocity rule's other conditions match. */
  velocity?: VelocityCounter;
  /**
   * Clock for velocity windows, ms since the epoch.
   * @default Date.now()
   */
  now?: number;
  /**
   * Evaluate semantics: velocity counts are read (as if this request were added) but not recorded.
   * @default false (Check semantics: the request is counted)
   */
  dryRun?: boolean;
}

/**
 * Decides a request: rules in order, the first whose `match`, `when` and (if any) velocity limit all hold wins;
 * otherwise the bundle's default. `policy_snapshot` and `rule_id` are always set (`default` for the default).
 * Velocity rules count only requests that reach them (an earlier matching rule stops evaluation).
 * @throws {PolicyArgumentError} when a velocity rule is reached and no `velocity` counter was given.
 * Velocity counter failures (e.g. Redis down) reject; the caller decides whether to fail closed.
 */
export async function evaluate(
  bundle: PolicyBundle,
  request: PolicyCheckRequest,
  options: EvaluateOptions = {},
): Promise<PolicyCheckResponse> {
  const view = createRequestView(request);
  next: for (const rule of bundle.rules) {
    for (const condition of rule.match) if (!condition.test(view)) continue next;
    if (rule.when && !rule.when.test(request)) continue;
    if (rule.velocity) {
      const counter = options.velocity;
      if (!counter) {
        throw new PolicyArgumentError(
          `evaluate: rule ${rule.id} has a velocity limit but no velocity counter was given; pass options.velocity`,
        );
      }
      const v = rule.velocity;
      const hit = await counter.hit(v.key(view), v.windowMs, v.limit, {
        dryRun: options.dryRun ?? false,
        now: options.now ?? Date.now(),
      });
      if (!hit.exceeded) continue;
      return ruleResponse(bundle, rule, hit);
    }
    return ruleResponse(bundle, rule);
  }
  return defaultResponse(bundle);
}
