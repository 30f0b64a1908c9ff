import type { ResolvedRoute } from './routing-table.js';
import type { WorkerInfo } from './worker-registry.js';

/** Label prefix of placement constraints on a job: `placement.region=eu` needs a worker labelled `region=eu`. */
export const PLACEMENT_LABEL_PREFIX = 'placement.';
/** Job label naming a preferred worker. */
export const PREFERRED_WORKER_LABEL = 'preferred_worker_id';

/** A worker is overloaded at or above this share of its slots… */
export const OVERLOAD_ACTIVE_RATIO = 0.9;
/** …or at or above this CPU load (percent). */
export const OVERLOAD_CPU = 90;

/** What routing needs to know about a job. */
export interface RoutableJob {
  topic: string;
  labels: Readonly<Record<string, string>>;
  requires: readonly string[];
  preferredWorkerId?: string;
}

/** Where to send a job, or why it can't go anywhere now. */
export type RouteDecision =
  | { kind: 'worker'; worker: WorkerInfo; direct: boolean }
  | { kind: 'wait'; reason: 'no_workers' | 'all_overloaded' | 'no_placement_match' }
  | { kind: 'unroutable'; reason: string };

/** True when the worker serves the route's topic (by pool, handshake ready_topics, or pool named after the topic). */
export function servesRoute(worker: WorkerInfo, route: ResolvedRoute): boolean {
  return worker.pool === route.pool || worker.pool === route.topic || worker.readyTopics.includes(route.topic);
}

/** True at or above 90 % of slots (counting unreported reservations) or 90 % CPU. */
export function isOverloaded(w: WorkerInfo): boolean {
  const max = w.maxParallelJobs > 0 ? w.maxParallelJobs : 1;
  return (w.activeJobs + w.reserved) / max >= OVERLOAD_ACTIVE_RATIO || w.cpuLoad >= OVERLOAD_CPU;
}

function placementMatches(job: RoutableJob, w: WorkerInfo): boolean {
  for (const [key, value] of Object.entries(job.labels)) {
    if (!key.startsWith(PLACEMENT_LABEL_PREFIX)) continue;
    if (w.labels[key.slice(PLACEMENT_LABEL_PREFIX.length)] !== value) return false;
  }
  return true;
}

/**
 * Picks the least-loaded live worker for a job: it must serve the topic's pool, match every `placement.*` label and
 * not be overloaded; `preferred_worker_id` wins when it qualifies. Ties go to lower CPU, then at random.
 */
export function selectWorker(
  job: RoutableJob,
  route: ResolvedRoute,
  live: readonly WorkerInfo[],
  random: () => number = Math.random,
): RouteDecision {
  if (route.poolRequires !== undefined) {
    const missing = job.requires.filter((r) => !route.poolRequires!.includes(r));
    if (missing.length > 0) {
      return {
        kind: 'unroutable',
        reason: `pool ${route.pool} does not provide required capabilities: ${missing.join(', ')}`,
      };
    }
  }
  const serving = live.filter((w) => servesRoute(w, route));
  if (serving.length === 0) return { kind: 'wait', reason: 'no_workers' };
  const placed = serving.filter((w) => placementMatches(job, w));
  if (placed.length === 0) return { kind: 'wait', reason: 'no_placement_match' };
  const available = placed.filter((w) => !isOverloaded(w));
  if (available.length === 0) return { kind: 'wait', reason: 'all_overloaded' };
  const preferred = job.preferredWorkerId ?? job.labels[PREFERRED_WORKER_LABEL];
  const pick = (preferred && available.find((w) => w.workerId === preferred)) || leastLoaded(available, random);
  return { kind: 'worker', worker: pick, direct: pick.directDispatch };
}

function leastLoaded(workers: readonly WorkerInfo[], random: () => number): WorkerInfo {
  let best: WorkerInfo[] = [];
  let bestLoad = Number.POSITIVE_INFINITY;
  let bestCpu = Number.POSITIVE_INFINITY;
  for (const w of workers) {
    const load = (w.activeJobs + w.reserved) / (w.maxParallelJobs > 0 ? w.maxParallelJobs : 1);
    if (load < bestLoad - 1e-9 || (Math.abs(load - bestLoad) <= 1e-9 && w.cpuLoad < bestCpu)) {
      best = [w];
      bestLoad = load;
      bestCpu = w.cpuLoad;
    } else if (Math.abs(load - bestLoad) <= 1e-9 && w.cpuLoad === bestCpu) {
      best.push(w);
    }
  }
  return best[Math.floor(random() * best.length)] ?? best[0]!;
}
