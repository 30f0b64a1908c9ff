/** One sample of a Prometheus text exposition. */
export interface MetricSample {
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the Prometheus text format (what `/metrics` serves): every sample with its labels; comments skipped. */
export function parsePrometheusText(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** Reads `/metrics` at `metricsUrl` (a base URL). */
export async function readMetrics(metricsUrl: string): Promise<MetricSample[]> {
  const res = await fetch(`${metricsUrl}/metrics`);
  if (!res.ok) throw new Error(`GET ${metricsUrl}/metrics answered ${res.status}; expected 200`);
  return parsePrometheusText(await res.text());
}

/** Sum of `name` over the samples whose labels include every pair of `where`. */
export function sumMetric(samples: readonly MetricSample[], name: string, where: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(where).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}
