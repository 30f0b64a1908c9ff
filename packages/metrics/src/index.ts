/**
 * @capstan/metrics — what every Capstan service shares for Prometheus: the `/metrics` + `/healthz` listener on its
 * own port (kept off the public API port) and a registry with the process's default metrics.
 */

export { type MetricsServer, type MetricsServerOptions, startMetricsServer } from './metrics-server.js';
export { createServiceRegistry } from './service-registry.js';
