import { Counter, type Registry } from 'prom-client';

/** Options of {@link createTallyCounter}. */
export interface TallyCounterOptions {
  /** Where the counter is registered; without one it only counts (nothing scrapes it). */
  registry?: Registry;
  name: string;
  help: string;
  /** Label names, in the order `inc` takes their values. */
  labelNames: readonly string[];
}

/** A labelled counter for hot paths. */
export interface TallyCounter {
  /** Adds one for these label values (in `labelNames` order). */
  inc(...labelValues: string[]): void;
}

const SEP = '\u0000';

/**
 * A Prometheus counter for per-message and per-call paths: `inc` only bumps a number in a Map keyed by the label
 * values, and the counter is brought up to date when Prometheus scrapes. prom-client's own `inc(labels)` builds
 * and hashes a labels object on every call, which showed in the scheduler's and the worker's profiles.
 * Label cardinality must be bounded, as for any counter.
 */
export function createTallyCounter(opts: TallyCounterOptions): TallyCounter {
  const totals = new Map<string, number>();
  const reported = new Map<string, number>();
  const { labelNames } = opts;
  new Counter({
    name: opts.name,
    help: opts.help,
    labelNames,
    registers: opts.registry ? [opts.registry] : [],
    collect() {
      for (const [key, total] of totals) {
        const delta = total - (reported.get(key) ?? 0);
        if (delta <= 0) continue;
        const values = key.split(SEP);
        const labels: Record<string, string> = {};
        for (let i = 0; i < labelNames.length; i++) labels[labelNames[i]!] = values[i] ?? '';
        this.inc(labels, delta);
        reported.set(key, total);
      }
    },
  });
  return {
    inc(...labelValues) {
      const key = labelValues.length === 1 ? labelValues[0]! : labelValues.join(SEP);
      totals.set(key, (totals.get(key) ?? 0) + 1);
    },
  };
}
