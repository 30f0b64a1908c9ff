import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** deploy/prometheus: the scrape config, Capstan's alert rules and their promtool unit tests. */
export const PROMETHEUS_DIR = fileURLToPath(new URL('../../../deploy/prometheus/', import.meta.url));

interface RuleFile {
  groups: { name: string; rules: { alert?: string; expr: string }[] }[];
}

/** Every `capstan_*` metric the alert rules query (histogram series reduced to the histogram's name). */
export function alertRuleMetrics(): string[] {
  const rules = parse(readFileSync(`${PROMETHEUS_DIR}capstan-alerts.yml`, 'utf8')) as RuleFile;
  const names = new Set<string>();
  for (const group of rules.groups)
    for (const rule of group.rules)
      for (const m of rule.expr.matchAll(/\bcapstan_[a-z0-9_]+/g)) names.add(m[0].replace(/_(bucket|sum|count)$/, ''));
  return [...names].sort();
}

/** Metric names a `/metrics` page declares (`# TYPE <name> <type>` lines). */
export function declaredMetrics(page: string): string[] {
  return [...page.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
}
