import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Metric names of the safety-kernel client, defined once. */
export const SafetyClientMetricNames = {
  checks: 'capstan_policy_checks_total',
  checkDuration: 'capstan_policy_check_duration_seconds',
  checkErrors: 'capstan_policy_check_errors_total',
  circuitState: 'capstan_policy_circuit_state',
  snapshotChanges: 'capstan_policy_snapshot_changes_total',
} as const;

/** Values of the `capstan_policy_circuit_state` gauge. */
export const CircuitStateValue = { closed: 0, open: 1, 'half-open': 2 } as const;

/** The client's Prometheus metrics. */
export type SafetyClientMetrics = ReturnType<typeof createSafetyClientMetrics>;

/** Creates the client's metrics, registered in `registry` when one is given. */
export function createSafetyClientMetrics(registry: Registry | undefined) {
  const registers = registry ? [registry] : [];
  return {
    checks: new Counter({
      name: SafetyClientMetricNames.checks,
      help: 'Policy decisions returned, by source (kernel or cache) and decision',
      labelNames: ['source', 'decision'],
      registers,
    }),
    checkDuration: new Histogram({
      name: SafetyClientMetricNames.checkDuration,
      help: 'Duration of Check calls that reached the safety kernel (cache hits excluded)',
      buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5],
      registers,
    }),
    checkErrors: new Counter({
      name: SafetyClientMetricNames.checkErrors,
      help: 'Check calls that failed, by kind (timeout, unavailable, circuit_open, rejected, aborted)',
      labelNames: ['kind'],
      registers,
    }),
    circuitState: new Gauge({
      name: SafetyClientMetricNames.circuitState,
      help: 'Circuit breaker state toward the safety kernel: 0 closed, 1 open, 2 half-open',
      registers,
    }),
    snapshotChanges: new Counter({
      name: SafetyClientMetricNames.snapshotChanges,
      help: 'Active policy snapshot switches seen by this client',
      registers,
    }),
  };
}
