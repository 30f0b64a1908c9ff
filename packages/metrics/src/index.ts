/**
 * @capstan/metrics — what every Capstan service shares for Prometheus: the `/metrics` + `/healthz` listener on its
 * own port (kept off the public API port), a registry with the process's default metrics, and a counter cheap
 * enough for per-message paths.
 */

export { type MetricsServer, type MetricsServerOptions, startMetricsServer } from './metrics-server.js';
export { createServiceRegistry } from './service-registry.js';
export { createTallyCounter, type TallyCounter, type TallyCounterOptions } from './tally-counter.js';
export { createTotalCounter, type TotalCounterOptions } from './total-counter.js';
