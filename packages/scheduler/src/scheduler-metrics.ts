import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Metric names of the scheduler, defined once. */
export const SchedulerMetricNames = {
  transitions: 'capstan_jobs_transitions_total',
  active: 'capstan_jobs_active',
  dispatchLatency: 'capstan_dispatch_latency_seconds',
  queueWait: 'capstan_queue_wait_seconds',
  leaseExpiries: 'capstan_lease_expiries_total',
  leaseRenewals: 'capstan_dispatch_lease_renewals_total',
  redeliveries: 'capstan_dispatch_redeliveries_total',
  admissionWaits: 'capstan_admission_waits_total',
  retries: 'capstan_job_retries_total',
  dlq: 'capstan_dlq_total',
  staleResults: 'capstan_stale_results_total',
  workers: 'capstan_workers_live',
  commitBatch: 'capstan_commit_batch_size',
  policyFailOpen: 'capstan_policy_fail_open_total',
  policyWaits: 'capstan_policy_waits_total',
  approvals: 'capstan_approvals_applied_total',
} as const;

/** The scheduler's Prometheus metrics. */
export type SchedulerMetrics = ReturnType<typeof createSchedulerMetrics>;

/** Creates (and registers) the scheduler metrics. */
export function createSchedulerMetrics(registry: Registry) {
  const registers = [registry];
  return {
    transitions: new Counter({
      name: SchedulerMetricNames.transitions,
      help: 'Job state transitions by target state and topic',
      labelNames: ['state', 'topic'],
      registers,
    }),
    active: new Gauge({
      name: SchedulerMetricNames.active,
      help: 'Non-terminal jobs held by this replica, by state',
      labelNames: ['state'],
      registers,
    }),
    dispatchLatency: new Histogram({
      name: SchedulerMetricNames.dispatchLatency,
      help: 'Accepted (row committed) to dispatch published',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    }),
    queueWait: new Histogram({
      name: SchedulerMetricNames.queueWait,
      help: 'Job created to first dispatch',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
      registers,
    }),
    leaseExpiries: new Counter({
      name: SchedulerMetricNames.leaseExpiries,
      help: 'Dispatches whose worker went silent or that were lost',
      labelNames: ['reason'],
      registers,
    }),
    leaseRenewals: new Counter({
      name: SchedulerMetricNames.leaseRenewals,
      help: 'Unclaimed queue-group dispatches kept (lease renewed) because a live worker of their pool reported active jobs',
      registers,
    }),
    redeliveries: new Counter({
      name: SchedulerMetricNames.redeliveries,
      help: 'Unclaimed direct dispatches published again to their worker (same attempt and lease)',
      registers,
    }),
    admissionWaits: new Counter({
      name: SchedulerMetricNames.admissionWaits,
      help: 'Submits that waited because this replica held maxOpenJobs queued or running jobs',
      registers,
    }),
    retries: new Counter({
      name: SchedulerMetricNames.retries,
      help: 'Jobs moved to RETRYING',
      labelNames: ['topic'],
      registers,
    }),
    dlq: new Counter({
      name: SchedulerMetricNames.dlq,
      help: 'Jobs dead-lettered, by reason',
      labelNames: ['reason'],
      registers,
    }),
    staleResults: new Counter({
      name: SchedulerMetricNames.staleResults,
      help: 'Results and progress refused by fencing',
      labelNames: ['kind'],
      registers,
    }),
    workers: new Gauge({ name: SchedulerMetricNames.workers, help: 'Live workers known from heartbeats', registers }),
    policyFailOpen: new Counter({
      name: SchedulerMetricNames.policyFailOpen,
      help: 'Jobs allowed without a decision because the safety kernel was unreachable (fail-open configured)',
      registers,
    }),
    policyWaits: new Counter({
      name: SchedulerMetricNames.policyWaits,
      help: 'Policy re-checks scheduled, by reason (policy_unavailable, throttled)',
      labelNames: ['reason'],
      registers,
    }),
    approvals: new Counter({
      name: SchedulerMetricNames.approvals,
      help: 'Human approvals applied to parked jobs, by outcome (approved, rejected, expired, mismatch)',
      labelNames: ['outcome'],
      registers,
    }),
  };
}
