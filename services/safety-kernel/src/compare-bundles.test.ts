import { create } from '@bufbuild/protobuf';
import { PolicyCheckRequestSchema } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { loadBundle } from '@capstan/policy';
import { describe, expect, it } from 'vitest';
import { compareBundles } from './compare-bundles.js';

const active = loadBundle('default_decision: allow\nrules: []\n');
const candidate = loadBundle(`rules:
  - id: slow
    match: { topics: [job.llm] }
    velocity: { key: [tenant], limit: 2, window_seconds: 10 }
    decision: throttle
  - id: llm
    match: { topics: [job.llm] }
    decision: allow
`);
const llm = (tenant: string) => create(PolicyCheckRequestSchema, { topic: 'job.llm', tenant });

describe('compareBundles', () => {
  it('replays velocity in order at each request time, with a fresh counter per bundle', async () => {
    const t0 = 1_000_000;
    const result = await compareBundles(active, candidate, [
      { request: llm('a'), now: t0 },
      { request: llm('a'), now: t0 + 1000 },
      { request: llm('a'), now: t0 + 2000 }, // third in 10 s: throttled
      { request: llm('a'), now: t0 + 20_000 }, // window passed
      { request: llm('b'), now: t0 + 2000 },
      { request: create(PolicyCheckRequestSchema, { topic: 'job.other' }), now: t0 },
    ]);
    expect(result.replayed).toBe(6);
    expect(result.changed).toBe(2);
    expect(result.changes.map((c) => `${c.tenant}:${c.beforeDecision}>${c.afterDecision}:${c.afterRuleId}`)).toEqual([
      'a:ALLOW>THROTTLE:slow',
      ':ALLOW>DENY:default',
    ]);
    expect(result.rules).toEqual([
      { ruleId: 'slow', selected: 1, changed: 1 },
      { ruleId: 'llm', selected: 4, changed: 0 },
      { ruleId: 'default', selected: 1, changed: 1 },
    ]);
  });
});
