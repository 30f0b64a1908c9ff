import { clone } from '@bufbuild/protobuf';
import {
  DecisionType,
  PolicyCheckRequestSchema,
  type PolicyCheckResponse,
  type SafetyKernel,
} from '@capstan/gen/cordum/agent/v1/safety_pb';
import { createMemoryVelocityCounter, evaluate, explain } from '@capstan/policy';
import type { ServiceImpl } from '@connectrpc/connect';
import { compileCandidate, decodeBundleBytes } from './bundle-text.js';
import { evaluationError } from './evaluate-errors.js';
import type { KernelContext } from './kernel-context.js';
import { assertValidCheckRequest } from './validate-check-request.js';

/** File name candidate bundles carried in `effective_config` get in issue positions. */
export const EFFECTIVE_CONFIG_FILE = '<effective_config>';

/**
 * The CAP service `cordum.agent.v1.SafetyKernel`.
 * - Check: the hot path; counts velocity in Redis, records the decision (batched, off the path) and, for
 *   REQUIRE_HUMAN, creates or reuses the approval and returns its id as approval_ref.
 * - Evaluate: the same answer with no side effects (approval_required set, approval_ref empty).
 * - Explain: the Evaluate answer with `reason` replaced by the readable multi-line trace of every rule.
 * - Simulate: Evaluate against a candidate bundle carried as YAML in `effective_config` (empty: the active one).
 * - ListSnapshots: the kept snapshot ids, newest first.
 */
export function createSafetyKernelService(ctx: KernelContext) {
  const { registry, velocity, approvals, decisions, metrics } = ctx;

  const dryRun = async (request: Parameters<typeof evaluate>[1]): Promise<PolicyCheckResponse> => {
    try {
      return await evaluate(registry.active().bundle, request, { velocity, dryRun: true, now: ctx.now() });
    } catch (err) {
      throw evaluationError(err);
    }
  };

  return {
    async check(request) {
      assertValidCheckRequest(request);
      const started = performance.now();
      const now = ctx.now();
      let response: PolicyCheckResponse;
      try {
        response = await evaluate(registry.active().bundle, request, { velocity, now });
      } catch (err) {
        throw evaluationError(err);
      }
      if (response.decision === DecisionType.REQUIRE_HUMAN) {
        response.approvalRef = await approvals.ensure(request, response, ctx.approvalTtlMs, new Date(now));
      }
      decisions.record(request, response, new Date(now));
      metrics.checkDecided(response.decision, response.ruleId, (performance.now() - started) / 1000);
      return response;
    },

    async evaluate(request) {
      assertValidCheckRequest(request);
      return dryRun(request);
    },

    async explain(request) {
      assertValidCheckRequest(request);
      try {
        const { response, text } = await explain(registry.active().bundle, request, { velocity, now: ctx.now() });
        response.reason = text;
        return response;
      } catch (err) {
        throw evaluationError(err);
      }
    },

    async simulate(request) {
      assertValidCheckRequest(request);
      if (request.effectiveConfig.length === 0) return dryRun(request);
      const yaml = decodeBundleBytes(request.effectiveConfig, 'effective_config');
      const candidate = compileCandidate(registry, yaml, EFFECTIVE_CONFIG_FILE, 'effective_config');
      // effective_config carried the candidate; the candidate judges the request without it.
      const judged = clone(PolicyCheckRequestSchema, request);
      judged.effectiveConfig = new Uint8Array(0);
      // A candidate never touches the shared counters: velocity is counted as if this were the only request.
      return evaluate(candidate.bundle, judged, {
        velocity: createMemoryVelocityCounter({ maxKeys: 1024 }),
        dryRun: true,
        now: ctx.now(),
      });
    },

    async listSnapshots() {
      const kept = await ctx.snapshots.kept(ctx.keepSnapshots);
      return { snapshots: kept.map((s) => s.snapshot_id) };
    },
    // None of the methods needs Connect's handler context, so the gRPC fast path can call them directly.
  } satisfies ServiceImpl<typeof SafetyKernel>;
}
