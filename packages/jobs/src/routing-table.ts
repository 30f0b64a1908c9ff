import { compileSubjectPattern, type SubjectPattern } from '@capstan/protocol';

/** Per-topic settings; every field optional, filled from the pool and then the global defaults. */
export interface TopicRoute {
  /** Pool that serves the topic; @default the topic itself */
  pool?: string;
  /** Retries after the first attempt before FAILED + DLQ `max_retries_exceeded`. */
  maxRetries?: number;
  /** A dispatched job not RUNNING within this is re-dispatched (lost publish, dead worker). */
  dispatchTimeoutMs?: number;
  /** A running job not finished within this ends TIMEOUT. */
  runningTimeoutMs?: number;
}

/** A worker pool. */
export interface PoolSpec {
  /** Capabilities the pool provides; a job's `meta.requires` must be a subset. */
  requires?: string[];
}

/** The routing config: topic → pool, pool capabilities, per-topic limits. Topic keys may end in `.*` / `.>`. */
export interface RoutingConfig {
  pools?: Record<string, PoolSpec>;
  topics?: Record<string, TopicRoute>;
  defaults?: Required<Omit<TopicRoute, 'pool'>>;
}

/** A topic's resolved route. */
export interface ResolvedRoute {
  topic: string;
  pool: string;
  /** Capabilities of the pool, or undefined when the pool declares none (then any `requires` passes). */
  poolRequires: readonly string[] | undefined;
  maxRetries: number;
  dispatchTimeoutMs: number;
  runningTimeoutMs: number;
}

/** Defaults when neither topic nor config say otherwise. */
export const DEFAULT_ROUTE_LIMITS: Required<Omit<TopicRoute, 'pool'>> = {
  maxRetries: 3,
  dispatchTimeoutMs: 30_000,
  runningTimeoutMs: 15 * 60_000,
};

/** Resolves routes for topics from a {@link RoutingConfig}. Exact keys win over patterns; more specific patterns first. */
export interface RoutingTable {
  route(topic: string): ResolvedRoute;
  readonly config: RoutingConfig;
}

/** Builds a routing table. */
export function createRoutingTable(config: RoutingConfig = {}): RoutingTable {
  const defaults = { ...DEFAULT_ROUTE_LIMITS, ...config.defaults };
  const exact = new Map<string, TopicRoute>();
  const wildcards: { pattern: SubjectPattern; literal: number; route: TopicRoute }[] = [];
  for (const [key, route] of Object.entries(config.topics ?? {})) {
    if (key.split('.').some((t) => t === '*' || t === '>')) {
      // More literal tokens = more specific: `job.ml.train.*` wins over `job.ml.>`.
      wildcards.push({
        pattern: compileSubjectPattern(key),
        literal: key.split('.').filter((t) => t !== '*' && t !== '>').length,
        route,
      });
    } else exact.set(key, route);
  }
  wildcards.sort((a, b) => b.literal - a.literal);
  const cache = new Map<string, ResolvedRoute>();
  return {
    config,
    route(topic) {
      const hit = cache.get(topic);
      if (hit) return hit;
      const route = exact.get(topic) ?? wildcards.find((w) => w.pattern.test(topic))?.route;
      const pool = route?.pool ?? topic;
      const resolved: ResolvedRoute = {
        topic,
        pool,
        poolRequires: config.pools?.[pool]?.requires,
        maxRetries: route?.maxRetries ?? defaults.maxRetries,
        dispatchTimeoutMs: route?.dispatchTimeoutMs ?? defaults.dispatchTimeoutMs,
        runningTimeoutMs: route?.runningTimeoutMs ?? defaults.runningTimeoutMs,
      };
      if (cache.size > 10_000) cache.clear();
      cache.set(topic, resolved);
      return resolved;
    },
  };
}
