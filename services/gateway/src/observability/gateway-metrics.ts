import { createTotalCounter } from '@capstan/metrics';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { JobEventHub } from '../streaming/job-event-hub.js';
import type { StreamKind, StreamRegistry } from '../streaming/stream-registry.js';

/** What the gateway counts for Prometheus (served on `CAPSTAN_GATEWAY_METRICS_PORT`, see docs/gateway.md). */
export interface GatewayMetrics {
  registry: Registry;
  /** One answered HTTP request; `route` is the route's pattern (`/v1/jobs/:id`), `unmatched` for a 404. */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  /** An audit entry the database refused (it went to the error log instead): worth an alert. */
  auditWriteFailed(): void;
  /** A credential verified from the cache (`cached`) or by reading the database (`read`). */
  credentialLookup(result: 'cached' | 'read'): void;
}

/** Where the collect-time figures come from. */
export interface GatewayMetricsSources {
  streams: StreamRegistry;
  jobEvents: JobEventHub;
}

/** Registers the gateway's metrics in `registry` (which should already hold the process defaults). */
export function createGatewayMetrics(registry: Registry, sources: GatewayMetricsSources): GatewayMetrics {
  const requests = new Counter({
    name: 'capstan_gateway_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'capstan_gateway_http_request_duration_seconds',
    help: 'Time from request to response, by method and route pattern',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const auditFailures = new Counter({
    name: 'capstan_gateway_audit_write_failures_total',
    help: 'Audit entries the database refused (each written to the error log instead)',
    registers: [registry],
  });
  const credentialLookups = new Counter({
    name: 'capstan_gateway_credential_lookups_total',
    help: 'Credentials verified, from the credential cache (cached) or by reading the database (read)',
    labelNames: ['result'],
    registers: [registry],
  });
  const kinds: StreamKind[] = ['websocket', 'sse'];
  new Gauge({
    name: 'capstan_gateway_streams_open',
    help: 'Open WebSocket sessions and SSE streams on this replica',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const stats = sources.streams.stats();
      this.set({ kind: 'websocket' }, stats.websockets);
      this.set({ kind: 'sse' }, stats.sse);
    },
  });
  createTotalCounter({
    registry,
    name: 'capstan_gateway_streams_evicted_total',
    help: 'Streaming clients evicted for falling behind (slow consumers)',
    labelNames: ['kind'],
    read: () => {
      const { evictions } = sources.streams.stats();
      return kinds.map((kind) => [{ kind }, evictions[kind]] as const);
    },
  });
  new Gauge({
    name: 'capstan_gateway_job_event_subscriptions',
    help: 'Tenants with a job-event NATS subscription on this replica (one per tenant with listeners)',
    registers: [registry],
    collect() {
      this.set(sources.jobEvents.stats().tenants);
    },
  });
  createTotalCounter({
    registry,
    name: 'capstan_gateway_job_events_received_total',
    help: 'Job events received from the scheduler, by outcome (malformed ones are ignored)',
    labelNames: ['outcome'],
    read: () => {
      const stats = sources.jobEvents.stats();
      return [
        [{ outcome: 'ok' }, stats.received - stats.malformed],
        [{ outcome: 'malformed' }, stats.malformed],
      ];
    },
  });
  return {
    registry,
    observeRequest(method, route, status, seconds) {
      requests.inc({ method, route, status: String(status) });
      duration.observe({ method, route }, seconds);
    },
    auditWriteFailed: () => auditFailures.inc(),
    credentialLookup: (result) => credentialLookups.inc({ result }),
  };
}
