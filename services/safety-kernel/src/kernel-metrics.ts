import type { DecisionType } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { createTallyCounter, createTotalCounter } from '@capstan/metrics';
import { Code } from '@connectrpc/connect';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { decisionTypeName } from './decision-names.js';
import type { DecisionRecorderStats } from './decision-recorder.js';

/** What the kernel counts for Prometheus (served on `CAPSTAN_SAFETY_KERNEL_METRICS_PORT`, see docs/safety-kernel.md). */
export interface KernelMetrics {
  registry: Registry;
  /** One answered Check: its decision, the rule that decided (`default` = none matched) and the kernel's time. */
  checkDecided(decision: DecisionType, ruleId: string, seconds: number): void;
  /** An RPC that ended in an error; `rpc` is `service/Method`. */
  rpcFailed(rpc: string, code: Code): void;
  /** The replica switched to another snapshot (activation here, an announcement, a resync or startup). */
  snapshotSwitched(): void;
  /** A bundle refused as invalid, by where it came from (`file`, `admin`). */
  bundleRejected(source: 'file' | 'admin'): void;
}

/** Where the collect-time figures come from. */
export interface KernelMetricsSources {
  /** The snapshot this replica answers with. */
  activeSnapshot(): string;
  decisions(): DecisionRecorderStats;
  /** Approvals still PENDING (a database count, read at scrape time). */
  openApprovals(): Promise<number>;
}

/** Registers the kernel's metrics in `registry` (which should already hold the process defaults). */
export function createKernelMetrics(registry: Registry, sources: KernelMetricsSources): KernelMetrics {
  // Counted on every Check: a tally, labelled only when Prometheus scrapes.
  const decided = createTallyCounter({
    registry,
    name: 'capstan_safety_kernel_checks_total',
    help: 'Check calls answered, by decision and the rule that decided ("default" = no rule matched)',
    labelNames: ['decision', 'rule_id'],
  });
  const checkSeconds = new Histogram({
    name: 'capstan_safety_kernel_check_duration_seconds',
    help: 'Time the kernel spent on a Check (evaluation, velocity counting, approval), network excluded',
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5],
    registers: [registry],
  });
  const errors = new Counter({
    name: 'capstan_safety_kernel_rpc_errors_total',
    help: 'RPCs that ended in an error, by method and status code (invalid_argument = a caller bug)',
    labelNames: ['method', 'code'],
    registers: [registry],
  });
  const switches = new Counter({
    name: 'capstan_safety_kernel_snapshot_switches_total',
    help: 'Times this replica switched its active policy snapshot',
    registers: [registry],
  });
  const rejections = new Counter({
    name: 'capstan_safety_kernel_bundle_rejections_total',
    help: 'Policy bundles refused as invalid (the previous snapshot stayed active), by source',
    labelNames: ['source'],
    registers: [registry],
  });
  new Gauge({
    name: 'capstan_safety_kernel_active_snapshot_info',
    help: 'The policy snapshot this replica answers with (value 1, the id in the label)',
    labelNames: ['snapshot'],
    registers: [registry],
    collect() {
      this.reset();
      this.set({ snapshot: sources.activeSnapshot() }, 1);
    },
  });
  createTotalCounter({
    registry,
    name: 'capstan_safety_kernel_decisions_recorded_total',
    help: 'Check decisions written to the decision history (policy_decisions)',
    read: () => [[{}, sources.decisions().recorded]],
  });
  createTotalCounter({
    registry,
    name: 'capstan_safety_kernel_decisions_dropped_total',
    help: 'Check decisions not written to the history (queue full or database refused): history has gaps',
    read: () => [[{}, sources.decisions().dropped]],
  });
  new Gauge({
    name: 'capstan_safety_kernel_decisions_pending',
    help: 'Check decisions waiting to be written to the history',
    registers: [registry],
    collect() {
      this.set(sources.decisions().pending);
    },
  });
  new Gauge({
    name: 'capstan_safety_kernel_approvals_open',
    help: 'Approvals waiting for a human (PENDING, not yet expired or decided), all tenants',
    registers: [registry],
    async collect() {
      this.set(await sources.openApprovals());
    },
  });

  return {
    registry,
    checkDecided(decision, ruleId, seconds) {
      decided.inc(decisionTypeName(decision), ruleId);
      checkSeconds.observe(seconds);
    },
    rpcFailed(rpc, code) {
      errors.inc({ method: rpc.slice(rpc.lastIndexOf('/') + 1), code: codeName(code) });
    },
    snapshotSwitched: () => switches.inc(),
    bundleRejected: (source) => rejections.inc({ source }),
  };
}

/** `invalid_argument`, as gRPC spells status names in lower case. */
function codeName(code: Code): string {
  return (Code[code] ?? String(code)).replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}
