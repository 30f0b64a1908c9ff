import { type Health, HealthCheckResponse_ServingStatus as ServingStatus } from '@capstan/gen/grpc/health/v1/health_pb';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';

/** Health status of the services one kernel serves, with change notification for Watch. */
export interface HealthStatus {
  /** Sets every registered service's status. */
  setAll(status: ServingStatus): void;
  /** Status of a service, or undefined when it is not registered. */
  get(service: string): ServingStatus | undefined;
  /** Every registered service and its status. */
  all(): ReadonlyMap<string, ServingStatus>;
  /** Resolves at the next status change, or when `signal` aborts. */
  changed(signal: AbortSignal): Promise<void>;
}

/** Tracks the status of `services` (use "" for the server as a whole); all start NOT_SERVING. */
export function createHealthStatus(services: readonly string[]): HealthStatus {
  const statuses = new Map(services.map((s) => [s, ServingStatus.NOT_SERVING]));
  let waiters: (() => void)[] = [];
  return {
    setAll(status) {
      let changed = false;
      for (const s of statuses.keys()) {
        if (statuses.get(s) !== status) changed = true;
        statuses.set(s, status);
      }
      if (!changed) return;
      const wake = waiters;
      waiters = [];
      for (const w of wake) w();
    },
    get: (service) => statuses.get(service),
    all: () => statuses,
    changed(signal) {
      return new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        const wake = () => {
          signal.removeEventListener('abort', abort);
          resolve();
        };
        const abort = () => {
          waiters = waiters.filter((w) => w !== wake);
          resolve();
        };
        waiters.push(wake);
        signal.addEventListener('abort', abort, { once: true });
      });
    },
  };
}

/**
 * The standard grpc.health.v1.Health service (what Kubernetes gRPC probes, grpc_health_probe and load balancers
 * call): Check answers NOT_FOUND for unknown services, Watch streams SERVICE_UNKNOWN for them and every change for
 * known ones until the client goes away or the server stops.
 */
export function createHealthService(health: HealthStatus): Partial<ServiceImpl<typeof Health>> {
  return {
    check(req) {
      const status = health.get(req.service);
      if (status === undefined) throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
      return { status };
    },
    list() {
      return { statuses: Object.fromEntries([...health.all()].map(([name, status]) => [name, { status }])) };
    },
    async *watch(req, ctx) {
      let last: ServingStatus | undefined;
      while (!ctx.signal.aborted) {
        const status = health.get(req.service) ?? ServingStatus.SERVICE_UNKNOWN;
        if (status !== last) {
          last = status;
          yield { status };
        }
        await health.changed(ctx.signal);
      }
    },
  };
}

/** grpc.health.v1 serving states, re-exported for the service wiring. */
export { ServingStatus };
