import { create, fromBinary, type MessageInitShape, toBinary } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  ApprovalAppliedSchema,
  ApprovalDecidedSchema,
  ApprovalState,
  type PolicyAdmin,
  type SnapshotInfoSchema,
} from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import { type PolicyCheckRequest, PolicyCheckRequestSchema } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { createMemoryVelocityCounter, evaluate, explain, PolicyBundleError, runBundleTests } from '@capstan/policy';
import { CapstanSubjects } from '@capstan/protocol';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import { type ApprovalRow, approvalStateName, toApprovalMessage } from './approval-store.js';
import { compileCandidate } from './bundle-text.js';
import { compareBundles, type ReplayItem } from './compare-bundles.js';
import { parseDecisionTypeName } from './decision-names.js';
import { SnapshotNotFoundError } from './errors.js';
import { evaluationError } from './evaluate-errors.js';
import type { KernelContext } from './kernel-context.js';
import {
  APPROVAL_NOTIFY_TIMEOUT_MS,
  DEFAULT_LIST_LIMIT,
  MAX_ID_LENGTH,
  MAX_LIST_LIMIT,
  MAX_SIMULATE_REQUESTS,
} from './limits.js';
import { failedTestsError, invalidArgument, toBundleIssueInit, toTestOutcomeInit } from './rpc-errors.js';
import type { KeptSnapshotRow } from './snapshot-store.js';
import { assertValidCheckRequest } from './validate-check-request.js';

/** File name used in issue positions when a request names none. */
export const DEFAULT_BUNDLE_FILE = '<bundle>';

function listLimit(limit: number, field = 'limit'): number {
  if (limit < 0)
    throw invalidArgument(
      field,
      `${limit} is negative; expected 0 (default ${DEFAULT_LIST_LIMIT}) to ${MAX_LIST_LIMIT}`,
    );
  if (limit > MAX_LIST_LIMIT) throw invalidArgument(field, `${limit} is too large; expected at most ${MAX_LIST_LIMIT}`);
  return limit === 0 ? DEFAULT_LIST_LIMIT : limit;
}

function requireText(value: string, field: string, expected: string): string {
  if (value.trim() === '') throw invalidArgument(field, `is required; expected ${expected}`);
  if (value.length > MAX_ID_LENGTH && field !== 'bundle_yaml') {
    throw invalidArgument(field, `${value.length} characters; expected at most ${MAX_ID_LENGTH}`);
  }
  return value;
}

/**
 * Capstan's admin API `capstan.policy.v1.PolicyAdmin`: bundles and snapshots (validate, upload, activate, roll
 * back, list, get, audit trail), structured Explain and Simulate, decision history and human approvals.
 */
export function createPolicyAdminService(ctx: KernelContext): ServiceImpl<typeof PolicyAdmin> {
  const { registry, snapshots, approvals, logger } = ctx;

  const snapshotInfo = (row: KeptSnapshotRow): MessageInitShape<typeof SnapshotInfoSchema> => ({
    snapshotId: row.snapshot_id,
    version: row.version,
    active: row.snapshot_id === registry.active().snapshotId,
    ruleCount: row.rule_count,
    source: row.source,
    createdAt: timestampFromDate(new Date(row.created_at)),
    ...(row.activated_at ? { activatedAt: timestampFromDate(new Date(row.activated_at)) } : {}),
    activatedBy: row.activated_by ?? '',
  });

  const describe = async (snapshotId: string) => {
    const row = await snapshots.describe(snapshotId);
    if (!row) throw new ConnectError(`snapshot ${snapshotId} is not stored`, Code.NotFound);
    return snapshotInfo(row);
  };

  const activated = async (outcome: Awaited<ReturnType<typeof registry.activate>>) => ({
    snapshot: await describe(outcome.snapshot.snapshotId),
    previousSnapshotId: outcome.previousSnapshotId,
  });

  const notFoundAsPrecondition = (err: unknown): never => {
    if (err instanceof SnapshotNotFoundError) throw new ConnectError(err.message, Code.FailedPrecondition);
    throw err;
  };

  /** Updates the approval, then tells the scheduler (which also polls, so a missed message only delays it). */
  const decideApproval = async (
    approvalId: string,
    approver: string,
    reason: string,
    state: 'APPROVED' | 'REJECTED',
  ) => {
    requireText(approvalId, 'approval_id', 'an approval id such as apr_0123456789abcdef0123');
    requireText(approver, 'approver', 'who decides, e.g. a user name or e-mail');
    const outcome = await approvals.decide(approvalId, { state, approver, reason }, new Date(ctx.now()));
    if ('problem' in outcome) {
      const p = outcome.problem;
      if (p.kind === 'not_found') throw new ConnectError(`approval ${approvalId} does not exist`, Code.NotFound);
      if (p.kind === 'expired') {
        throw new ConnectError(
          `approval ${approvalId} expired at ${new Date(p.row.expires_at).toISOString()}; it can no longer be decided`,
          Code.FailedPrecondition,
        );
      }
      throw new ConnectError(
        `approval ${approvalId} is ${p.row.state}${p.row.decided_by ? ` (by ${p.row.decided_by})` : ''}; only PENDING approvals can be decided`,
        Code.FailedPrecondition,
      );
    }
    return { approval: toApprovalMessage(outcome.row), jobState: await notifyScheduler(outcome.row) };
  };

  const notifyScheduler = async (row: ApprovalRow): Promise<string> => {
    const decided = create(ApprovalDecidedSchema, {
      approvalId: row.approval_id,
      jobId: row.job_id,
      tenant: row.tenant,
    });
    try {
      const reply = await ctx.nc.request(CapstanSubjects.ctlJobApproval, toBinary(ApprovalDecidedSchema, decided), {
        timeout: APPROVAL_NOTIFY_TIMEOUT_MS,
      });
      const applied = fromBinary(ApprovalAppliedSchema, reply.data);
      return applied.found ? applied.jobState : '';
    } catch (err) {
      logger.info(
        { err: (err as Error).message, approval_id: row.approval_id },
        'no scheduler applied the approval now; schedulers pick it up when they re-read parked jobs',
      );
      return '';
    }
  };

  return {
    async validateBundle(req) {
      const file = req.file || DEFAULT_BUNDLE_FILE;
      try {
        const compiled = registry.compile(req.bundleYaml, file);
        const tests = req.runTests ? await runBundleTests(compiled.bundle) : [];
        return {
          valid: true,
          snapshotId: compiled.snapshotId,
          ruleCount: compiled.bundle.rules.length,
          tests: tests.map(toTestOutcomeInit),
        };
      } catch (err) {
        if (!(err instanceof PolicyBundleError)) throw err;
        return { valid: false, issues: err.issues.map(toBundleIssueInit) };
      }
    },

    async uploadBundle(req) {
      requireText(req.bundleYaml, 'bundle_yaml', 'a policy bundle in YAML');
      const file = req.file || DEFAULT_BUNDLE_FILE;
      const actor = req.actor || 'admin-api';
      let candidate: ReturnType<typeof compileCandidate>;
      try {
        candidate = compileCandidate(registry, req.bundleYaml, file, 'bundle_yaml');
      } catch (err) {
        ctx.metrics.bundleRejected('admin');
        throw err;
      }
      const tests = await runBundleTests(candidate.bundle);
      if (req.activate && req.requireTestsPass && tests.some((t) => !t.passed)) throw failedTestsError(tests);
      const { snapshot } = await registry.store(req.bundleYaml, { file, source: 'admin', createdBy: actor });
      if (req.activate) await registry.activate(snapshot.snapshotId, { actor, source: 'admin', reason: '' });
      return { snapshot: await describe(snapshot.snapshotId), tests: tests.map(toTestOutcomeInit) };
    },

    async activateSnapshot(req) {
      requireText(req.snapshotId, 'snapshot_id', 'a stored snapshot id (see ListBundles)');
      const outcome = await registry
        .activate(req.snapshotId, { actor: req.actor || 'admin-api', source: 'admin', reason: req.reason })
        .catch((err: unknown) => {
          if (err instanceof SnapshotNotFoundError) throw new ConnectError(err.message, Code.NotFound);
          throw err;
        });
      return activated(outcome);
    },

    async rollback(req) {
      const outcome = await registry
        .rollback({ actor: req.actor || 'admin-api', reason: req.reason })
        .catch(notFoundAsPrecondition);
      return activated(outcome);
    },

    async listBundles() {
      return { snapshots: (await snapshots.kept(ctx.keepSnapshots)).map(snapshotInfo) };
    },

    async getBundle(req) {
      const id = req.snapshotId || registry.active().snapshotId;
      const row = await snapshots.get(id);
      if (!row) throw new ConnectError(`snapshot ${id} is not stored`, Code.NotFound);
      return { snapshot: await describe(id), bundleYaml: row.bundle_yaml };
    },

    async listActivations(req) {
      const rows = await snapshots.activations(listLimit(req.limit));
      return {
        activations: rows.map((r) => ({
          snapshotId: r.snapshot_id,
          previousSnapshotId: r.previous_snapshot_id,
          actor: r.actor,
          source: r.source,
          reason: r.reason,
          at: timestampFromDate(new Date(r.at)),
        })),
      };
    },

    async explain(req) {
      assertValidCheckRequest(req.request, 'request.');
      const candidate = req.bundleYaml
        ? compileCandidate(registry, req.bundleYaml, DEFAULT_BUNDLE_FILE, 'bundle_yaml')
        : undefined;
      try {
        const { response, trace, text } = await explain((candidate ?? registry.active()).bundle, req.request, {
          // The active bundle reads the shared counters; a candidate reads a fresh, empty one.
          ...(candidate ? {} : { velocity: ctx.velocity }),
          now: ctx.now(),
        });
        return {
          response,
          text,
          trace: trace.map((t) => ({
            ruleId: t.ruleId,
            matched: t.matched,
            failed: t.failed ?? '',
            selected: t.selected,
            velocityCount: BigInt(t.velocity?.count ?? 0),
            velocityLimit: BigInt(t.velocity?.limit ?? 0),
            velocityWindowMs: BigInt(t.velocity?.windowMs ?? 0),
          })),
        };
      } catch (err) {
        throw evaluationError(err);
      }
    },

    async simulate(req) {
      requireText(req.bundleYaml, 'bundle_yaml', 'the candidate policy bundle in YAML');
      if (req.replayLast < 0) throw invalidArgument('replay_last', `${req.replayLast} is negative; expected 0 or more`);
      const inline = (req.request ? 1 : 0) + req.requests.length;
      if (inline + req.replayLast > MAX_SIMULATE_REQUESTS) {
        throw invalidArgument(
          'replay_last',
          `${inline + req.replayLast} requests to simulate (request + requests + replay_last); expected at most ${MAX_SIMULATE_REQUESTS}`,
        );
      }
      if (inline === 0 && req.replayLast === 0) {
        throw invalidArgument('request', 'nothing to simulate; give request, requests or replay_last');
      }
      if (req.request) assertValidCheckRequest(req.request, 'request.');
      req.requests.forEach((r, i) => {
        assertValidCheckRequest(r, `requests[${i}].`);
      });
      const candidate = compileCandidate(registry, req.bundleYaml, req.file || DEFAULT_BUNDLE_FILE, 'bundle_yaml');
      const active = registry.active();

      const items: ReplayItem[] = [];
      if (req.replayLast > 0) {
        // History first (oldest to newest, at the time it was decided), then the inline requests, now.
        await ctx.decisions.flush();
        const rows = await ctx.db
          .selectFrom('policy_decisions')
          .select(['id', 'request', 'at'])
          .orderBy('id', 'desc')
          .limit(req.replayLast)
          .execute();
        for (const row of rows.reverse()) {
          try {
            items.push({ request: fromBinary(PolicyCheckRequestSchema, row.request), now: new Date(row.at).getTime() });
          } catch (err) {
            logger.warn({ err, decision_id: row.id }, 'skipping a recorded decision whose request does not decode');
          }
        }
      }
      const now = ctx.now();
      const inlineRequests: PolicyCheckRequest[] = [...(req.request ? [req.request] : []), ...req.requests];
      for (const request of inlineRequests) items.push({ request, now });

      try {
        const comparison = await compareBundles(active.bundle, candidate.bundle, items);
        const response = req.request
          ? await evaluate(candidate.bundle, req.request, {
              velocity: createMemoryVelocityCounter({ maxKeys: 1024 }),
              dryRun: true,
              now,
            })
          : undefined;
        return {
          candidateSnapshotId: candidate.snapshotId,
          activeSnapshotId: active.snapshotId,
          ...(response ? { response } : {}),
          ...comparison,
        };
      } catch (err) {
        throw evaluationError(err);
      }
    },

    async listDecisions(req) {
      const limit = listLimit(req.limit);
      let decision: string | undefined;
      if (req.decision) {
        decision = parseDecisionTypeName(req.decision);
        if (!decision) {
          throw invalidArgument(
            'decision',
            `${JSON.stringify(req.decision)} is not a decision; expected ALLOW, DENY, REQUIRE_HUMAN, THROTTLE or ALLOW_WITH_CONSTRAINTS`,
          );
        }
      }
      if (req.beforeId < 0n) throw invalidArgument('before_id', `${req.beforeId} is negative; expected a cursor ≥ 0`);
      await ctx.decisions.flush();
      let q = ctx.db.selectFrom('policy_decisions').selectAll();
      if (req.tenant) q = q.where('tenant', '=', req.tenant);
      if (req.jobId) q = q.where('job_id', '=', req.jobId);
      if (decision) q = q.where('decision', '=', decision);
      if (req.ruleId) q = q.where('rule_id', '=', req.ruleId);
      if (req.beforeId > 0n) q = q.where('id', '<', String(req.beforeId));
      const rows = await q.orderBy('id', 'desc').limit(limit).execute();
      return {
        decisions: rows.map((r) => {
          let request: PolicyCheckRequest | undefined;
          try {
            request = fromBinary(PolicyCheckRequestSchema, r.request);
          } catch {
            request = undefined;
          }
          return {
            id: BigInt(r.id),
            jobId: r.job_id,
            tenant: r.tenant,
            topic: r.topic,
            decision: r.decision,
            ruleId: r.rule_id,
            policySnapshot: r.policy_snapshot,
            reason: r.reason,
            approvalRef: r.approval_ref,
            at: timestampFromDate(new Date(r.at)),
            ...(request ? { request } : {}),
          };
        }),
        nextBeforeId: rows.length === limit ? BigInt(rows[rows.length - 1]!.id) : 0n,
      };
    },

    async listApprovals(req) {
      const state = req.state === ApprovalState.UNSPECIFIED ? undefined : approvalStateName(req.state);
      if (req.state !== ApprovalState.UNSPECIFIED && !state) {
        throw invalidArgument(
          'state',
          `${req.state} is not an approval state; expected PENDING, APPROVED, REJECTED or EXPIRED`,
        );
      }
      const rows = await approvals.list(
        { ...(state ? { state } : {}), ...(req.tenant ? { tenant: req.tenant } : {}), limit: listLimit(req.limit) },
        new Date(ctx.now()),
      );
      return { approvals: rows.map(toApprovalMessage) };
    },

    async getApproval(req) {
      if (!req.approvalId && !req.jobId) {
        throw invalidArgument('approval_id', 'is required (or job_id); expected an approval id such as apr_0123…');
      }
      const row = await approvals.get(
        req.approvalId ? { approvalId: req.approvalId } : { jobId: req.jobId },
        new Date(ctx.now()),
      );
      if (!row) {
        throw new ConnectError(
          req.approvalId ? `approval ${req.approvalId} does not exist` : `job ${req.jobId} has no approval`,
          Code.NotFound,
        );
      }
      return toApprovalMessage(row);
    },

    approve: (req) => decideApproval(req.approvalId, req.approver, req.reason, 'APPROVED'),
    reject: (req) => decideApproval(req.approvalId, req.approver, req.reason, 'REJECTED'),
  };
}
