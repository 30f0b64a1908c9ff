import {
  DecisionType,
  type PolicyCheckRequest,
  type PolicyCheckResponse,
  SafetyKernel,
} from '@capstan/gen/cordum/agent/v1/safety_pb';
import { policyRequestHash } from '@capstan/protocol';
import { createClient } from '@connectrpc/connect';
import { CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen } from 'cockatiel';
import { type ActiveSnapshotTracker, createActiveSnapshotTracker } from './active-snapshot-tracker.js';
import { isKernelFailure, toSafetyKernelError } from './classify-error.js';
import { createDecisionCache, type DecisionCache } from './decision-cache.js';
import { SafetyKernelClosedError, type SafetyKernelError } from './errors.js';
import { createKernelTransport } from './kernel-transport.js';
import { CircuitStateValue, createSafetyClientMetrics } from './safety-client-metrics.js';
import {
  type ResolvedSafetyKernelPolicyOptions,
  resolveSafetyKernelPolicyOptions,
  type SafetyKernelPolicyOptions,
} from './safety-kernel-policy-options.js';

/** Circuit-breaker state toward the kernel. */
export type SafetyKernelCircuitState = 'closed' | 'open' | 'half-open';

/**
 * The scheduler's policy port backed by a remote safety kernel. It has the shape of `@capstan/scheduler`'s
 * `PolicyPort` (`check(request, { signal })`) plus what the scheduler may use to compare approvals with the
 * active snapshot.
 */
export interface SafetyKernelPolicy {
  /**
   * Asks the kernel (or the decision cache) for a decision. Rejects with a `SafetyKernelError` subclass:
   * `SafetyKernelTimeoutError`, `SafetyKernelUnavailableError`, `SafetyKernelCircuitOpenError` (fail fast while the
   * breaker is open), `SafetyKernelRequestError` (the kernel refused the request), `SafetyKernelAbortedError`,
   * `SafetyKernelClosedError`. The returned message may be shared with other callers (cache): treat it as read-only.
   */
  check(request: PolicyCheckRequest, opts?: { signal?: AbortSignal }): Promise<PolicyCheckResponse>;
  /** The active snapshot as announced on `capstan.policy.changed` (or read from the store); '' while unknown. */
  activeSnapshot(): string;
  /** Whether the active snapshot's decisions are being cached. */
  cacheable(): boolean;
  /** The circuit breaker's state. */
  circuitState(): SafetyKernelCircuitState;
  /** Resolves once the first read of the active snapshot from the store (if configured) finished. */
  ready(): Promise<void>;
  /** Unsubscribes, closes the connection; later `check()` calls reject with `SafetyKernelClosedError`. */
  close(): Promise<void>;
  /** The resolved options (defaults filled in). */
  readonly options: ResolvedSafetyKernelPolicyOptions;
}

const STATE_NAMES: Record<CircuitState, SafetyKernelCircuitState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'open',
};

/**
 * Creates the safety-kernel policy client: Check over gRPC (HTTP/2; or the Connect protocol), a per-call timeout,
 * a circuit breaker (cockatiel) that fails fast while open, and a decision cache keyed by the active snapshot and
 * `policyRequestHash(request, { ignoreJobId: true })` — only while the active snapshot is announced cacheable, and
 * only for ALLOW, ALLOW_WITH_CONSTRAINTS and DENY. Throws `InvalidSafetyClientOptionsError` for bad options.
 */
export function createSafetyKernelPolicy(options: SafetyKernelPolicyOptions): SafetyKernelPolicy {
  const o = resolveSafetyKernelPolicyOptions(options);
  const logger = o.logger;
  const metrics = createSafetyClientMetrics(o.registry);
  const { transport, close: closeTransport } = createKernelTransport(o);
  const client = createClient(SafetyKernel, transport);
  const cache: DecisionCache | undefined = o.cache.ttlMs > 0 ? createDecisionCache(o.cache) : undefined;
  let closed = false;

  const breaker = circuitBreaker(handleWhen(isKernelFailure), {
    halfOpenAfter: o.breaker.halfOpenAfterMs,
    breaker: new ConsecutiveBreaker(o.breaker.failureThreshold),
  });
  let openedAt = 0;
  metrics.circuitState.set(CircuitStateValue.closed);
  breaker.onStateChange((s) => {
    const name = STATE_NAMES[s];
    metrics.circuitState.set(CircuitStateValue[name]);
    if (s === CircuitState.Open) {
      openedAt = Date.now();
      logger?.warn(
        { url: o.url, retry_in_ms: o.breaker.halfOpenAfterMs, err: breaker.lastFailure },
        'safety kernel circuit breaker opened: checks fail fast',
      );
    } else if (s === CircuitState.HalfOpen) {
      logger?.info({ url: o.url }, 'safety kernel circuit breaker half-open: trying one call');
    } else if (s === CircuitState.Closed) {
      logger?.info({ url: o.url }, 'safety kernel circuit breaker closed: kernel answers again');
    }
  });
  const retryAfterMs = () => o.breaker.halfOpenAfterMs - (Date.now() - openedAt);

  const tracker: ActiveSnapshotTracker = createActiveSnapshotTracker({
    nats: o.nats,
    load: o.loadActiveSnapshot,
    logger,
    onChange: (prev, next) => {
      // Keys carry the snapshot, so entries of another snapshot could never be hit again: free them now.
      cache?.clear();
      if (prev.snapshotId !== next.snapshotId) metrics.snapshotChanges.inc();
    },
  });

  const call = async (request: PolicyCheckRequest, signal: AbortSignal | undefined): Promise<PolicyCheckResponse> => {
    const started = performance.now();
    try {
      const res = await breaker.execute(
        ({ signal: s }) => client.check(request, { signal: s, timeoutMs: o.timeoutMs }),
        signal,
      );
      metrics.checkDuration.observe((performance.now() - started) / 1000);
      return res;
    } catch (err) {
      const e: SafetyKernelError = toSafetyKernelError(err, {
        timeoutMs: o.timeoutMs,
        callerAborted: signal?.aborted === true,
        retryAfterMs,
      });
      metrics.checkErrors.inc({ kind: errorKind(e) });
      logger?.debug({ err: e, job_id: request.jobId }, 'safety kernel check failed');
      throw e;
    }
  };

  return {
    options: o,
    async check(request, opts = {}) {
      if (closed) throw new SafetyKernelClosedError();
      const snapshot = tracker.snapshotId;
      const hash =
        cache && snapshot && tracker.cacheable ? policyRequestHash(request, { ignoreJobId: true }) : undefined;
      if (hash !== undefined) {
        const hit = cache!.get(snapshot, hash);
        if (hit) {
          metrics.checks.inc({ source: 'cache', decision: decisionName(hit.decision) });
          return hit;
        }
      }
      const res = await call(request, opts.signal);
      metrics.checks.inc({ source: 'kernel', decision: decisionName(res.decision) });
      if (res.policySnapshot && res.policySnapshot !== snapshot) {
        // The kernel decided under a snapshot we were not told about (an announcement was missed, or a kernel
        // replica has not switched yet), or we don't know the active one yet: don't cache, ask the store.
        tracker.refresh('kernel answered from another snapshot');
      } else if (hash !== undefined && tracker.snapshotId === snapshot && tracker.cacheable) {
        cache!.set(snapshot, hash, res);
      }
      return res;
    },
    activeSnapshot: () => tracker.snapshotId,
    cacheable: () => cache !== undefined && tracker.cacheable,
    circuitState: () => STATE_NAMES[breaker.state],
    ready: () => tracker.ready(),
    async close() {
      if (closed) return;
      closed = true;
      tracker.close();
      cache?.clear();
      closeTransport();
    },
  };
}

function decisionName(d: DecisionType): string {
  return (DecisionType[d] ?? String(d)).toLowerCase();
}

function errorKind(e: SafetyKernelError): string {
  switch (e.name) {
    case 'SafetyKernelTimeoutError':
      return 'timeout';
    case 'SafetyKernelCircuitOpenError':
      return 'circuit_open';
    case 'SafetyKernelRequestError':
      return 'rejected';
    case 'SafetyKernelAbortedError':
      return 'aborted';
    default:
      return 'unavailable';
  }
}
