import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createTallyCounter } from './tally-counter.js';

const sample = (text: string, series: string) =>
  Number(
    text
      .split('\n')
      .find((l) => l.startsWith(`${series} `))
      ?.slice(series.length + 1),
  );

describe('createTallyCounter', () => {
  it('reports what was counted per label values at each scrape, and only what grew since', async () => {
    const registry = new Registry();
    const c = createTallyCounter({ registry, name: 't_total', help: 'h', labelNames: ['subject', 'code'] });
    c.inc('sys.job.submit', '101');
    c.inc('sys.job.submit', '101');
    c.inc('sys.heartbeat', '102');
    let text = await registry.metrics();
    expect(sample(text, 't_total{subject="sys.job.submit",code="101"}')).toBe(2);
    expect(sample(text, 't_total{subject="sys.heartbeat",code="102"}')).toBe(1);
    // A second scrape with nothing new reports the same totals (not doubled).
    text = await registry.metrics();
    expect(sample(text, 't_total{subject="sys.job.submit",code="101"}')).toBe(2);
    c.inc('sys.job.submit', '101');
    text = await registry.metrics();
    expect(sample(text, 't_total{subject="sys.job.submit",code="101"}')).toBe(3);
  });

  it('works with one label, and an empty value', async () => {
    const registry = new Registry();
    const c = createTallyCounter({ registry, name: 'one_total', help: 'h', labelNames: ['rule'] });
    c.inc('');
    c.inc('allow');
    const text = await registry.metrics();
    expect(sample(text, 'one_total{rule=""}')).toBe(1);
    expect(sample(text, 'one_total{rule="allow"}')).toBe(1);
  });
});
