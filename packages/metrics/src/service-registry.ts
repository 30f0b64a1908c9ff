import { collectDefaultMetrics, Registry } from 'prom-client';

/** A fresh registry with Node's default process metrics (CPU, memory, event-loop lag, GC), one per service. */
export function createServiceRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}
