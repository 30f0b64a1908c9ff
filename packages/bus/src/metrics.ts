import { createTallyCounter } from '@capstan/metrics';
import { Counter, type Registry } from 'prom-client';

/** Metric names of the bus, defined once. */
export const BusMetricNames = {
  received: 'capstan_bus_packets_received_total',
  rejected: 'capstan_bus_packets_rejected_total',
  deadLettered: 'capstan_bus_dead_letters_total',
  handlerErrors: 'capstan_bus_handler_errors_total',
  published: 'capstan_bus_packets_published_total',
} as const;

/** Counters a bus keeps; also readable without Prometheus through `Bus.stats()`. */
export interface BusMetrics {
  received(subject: string): void;
  rejected(subject: string, code: string): void;
  deadLettered(subject: string): void;
  handlerError(subject: string): void;
  published(subject: string): void;
  snapshot(): BusStats;
}

/** Plain counters, for tests and the CLI. */
export interface BusStats {
  received: number;
  rejected: number;
  deadLettered: number;
  handlerErrors: number;
  published: number;
  rejectedByCode: Record<string, number>;
}

/** Creates the bus counters, registered in `registry` when one is given. */
export function createBusMetrics(registry?: Registry): BusMetrics {
  const registers = registry ? [registry] : [];
  const mk = (name: string, help: string, labelNames: string[]) => new Counter({ name, help, labelNames, registers });
  // Counted for every packet: tallies, turned into labelled samples only when Prometheus scrapes.
  const received = createTallyCounter({
    registry,
    name: BusMetricNames.received,
    help: 'Packets received by Capstan consumers',
    labelNames: ['subject'],
  });
  const rejected = mk(BusMetricNames.rejected, 'Packets refused (malformed, wrong version, bad signature)', [
    'subject',
    'code',
  ]);
  const deadLettered = mk(BusMetricNames.deadLettered, 'Packets dead-lettered', ['subject']);
  const handlerErrors = mk(BusMetricNames.handlerErrors, 'Consumer handler failures', ['subject']);
  const published = createTallyCounter({
    registry,
    name: BusMetricNames.published,
    help: 'Packets published',
    labelNames: ['subject'],
  });
  const stats: BusStats = {
    received: 0,
    rejected: 0,
    deadLettered: 0,
    handlerErrors: 0,
    published: 0,
    rejectedByCode: {},
  };
  // Subject labels are bounded: subjects are reduced to their first three tokens (`worker.<id>.jobs` keeps the id).
  const label = (subject: string) => {
    const first = subject.indexOf('.');
    const second = first < 0 ? -1 : subject.indexOf('.', first + 1);
    const third = second < 0 ? -1 : subject.indexOf('.', second + 1);
    return third < 0 ? subject : subject.slice(0, third);
  };
  return {
    received(subject) {
      stats.received++;
      received.inc(label(subject));
    },
    rejected(subject, code) {
      stats.rejected++;
      stats.rejectedByCode[code] = (stats.rejectedByCode[code] ?? 0) + 1;
      rejected.inc({ subject: label(subject), code });
    },
    deadLettered(subject) {
      stats.deadLettered++;
      deadLettered.inc({ subject: label(subject) });
    },
    handlerError(subject) {
      stats.handlerErrors++;
      handlerErrors.inc({ subject: label(subject) });
    },
    published(subject) {
      stats.published++;
      published.inc(label(subject));
    },
    snapshot() {
      return { ...stats, rejectedByCode: { ...stats.rejectedByCode } };
    },
  };
}
