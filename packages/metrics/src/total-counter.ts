import { Counter, type Registry } from 'prom-client';

/** Options of {@link createTotalCounter}. */
export interface TotalCounterOptions {
  registry: Registry;
  name: string;
  help: string;
  /** @default none */
  labelNames?: readonly string[];
  /** The running totals kept elsewhere (a component's own stats), by label set; read at every scrape. */
  read: () => ReadonlyArray<readonly [Record<string, string>, number]>;
}

/**
 * A counter fed at scrape time from running totals a component already keeps (its `stats()`), adding only what
 * grew since the previous scrape — so the component needs no Prometheus code on its own paths.
 */
export function createTotalCounter(opts: TotalCounterOptions): Counter {
  const seen = new Map<string, number>();
  return new Counter({
    name: opts.name,
    help: opts.help,
    labelNames: opts.labelNames ?? [],
    registers: [opts.registry],
    collect() {
      for (const [labels, total] of opts.read()) {
        const key = JSON.stringify(labels);
        const delta = total - (seen.get(key) ?? 0);
        if (delta > 0) this.inc(labels, delta);
        seen.set(key, total);
      }
    },
  });
}
