import { readFileSync } from 'node:fs';
import { create } from '@bufbuild/protobuf';
import { DecisionType, PolicyCheckRequestSchema } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { describe, expect, it } from 'vitest';
import { evaluate } from './evaluate.js';
import { explain } from './explain.js';
import { loadBundle } from './load-bundle.js';
import { createMemoryVelocityCounter } from './memory-velocity-counter.js';

const example = loadBundle(readFileSync(new URL('./testdata/example-bundle.yaml', import.meta.url), 'utf8'), {
  file: 'example.yaml',
});

describe('explain', () => {
  it('traces every rule: matched or the first failed condition, and the deciding rule', async () => {
    const req = create(PolicyCheckRequestSchema, {
      topic: 'job.db.drop',
      tenant: 'acme',
      meta: { riskTags: ['destructive'], labels: { env: 'prod' }, capability: 'code.write' },
    });
    const { response, trace, text } = await explain(example, req);
    expect(response).toMatchObject({ decision: DecisionType.REQUIRE_HUMAN, ruleId: 'no-prod-deletes' });
    expect(trace).toEqual([
      {
        ruleId: 'allow-echo',
        matched: false,
        selected: false,
        failed: 'topic "job.db.drop" does not match [job.echo]',
      },
      { ruleId: 'no-prod-deletes', matched: true, selected: true },
      {
        ruleId: 'slow-down',
        matched: false,
        selected: false,
        failed: 'topic "job.db.drop" does not match [job.llm.>]',
      },
      { ruleId: 'bounded', matched: true, selected: false },
    ]);
    expect(text).toBe(
      [
        `policy ${example.snapshotId} (example.yaml): REQUIRE_HUMAN by rule no-prod-deletes — destructive change in prod needs a human`,
        ' - 1. allow-echo: no match: topic "job.db.drop" does not match [job.echo]',
        '=> 2. no-prod-deletes: matched; decides',
        ' - 3. slow-down: no match: topic "job.db.drop" does not match [job.llm.>]',
        ' + 4. bounded: matched, but rule no-prod-deletes comes first',
        ' - default: not used',
      ].join('\n'),
    );
  });

  it('says which match condition failed for each field', async () => {
    const b = loadBundle(
      [
        'rules:',
        '  - { id: t, match: { tenants: [acme] }, decision: allow }',
        '  - { id: c, match: { capabilities: [code.write] }, decision: allow }',
        '  - { id: r, match: { risk_tags: [pii] }, decision: allow }',
        '  - { id: q, match: { requires: [gpu, net] }, decision: allow }',
        '  - { id: a, match: { actor_ids: [alice] }, decision: allow }',
        '  - { id: y, match: { actor_types: [human] }, decision: allow }',
        '  - { id: l, match: { labels: { env: prod } }, decision: allow }',
        '  - { id: w, match: { label_allowlist: { region: [eu] } }, decision: allow }',
      ].join('\n'),
    );
    const req = create(PolicyCheckRequestSchema, {
      tenant: 'globex',
      labels: { region: 'us' },
      meta: { capability: 'net.fetch', riskTags: ['cheap'], requires: ['gpu'], actorId: 'bob' },
    });
    const { trace, text } = await explain(b, req);
    expect(trace.map((t) => t.failed)).toEqual([
      'tenant "globex" is not one of [acme]',
      'capability "net.fetch" is not one of [code.write]',
      'risk tags [cheap] include none of [pii]',
      'requires [gpu] lacks [net]',
      'actor id "bob" is not one of [alice]',
      'actor type "unspecified" is not one of [human]',
      'label env is absent, expected "prod"',
      'label region is "us", not in the allow-list [eu]',
    ]);
    expect(text.split('\n').at(-1)).toBe('=> default: deny (no rule matched)');
  });

  it('explains CEL false and CEL runtime errors', async () => {
    const b = loadBundle(
      [
        'rules:',
        '  - { id: cheap, when: "request.estimated_cost < 1.0", decision: allow }',
        "  - { id: label, when: \"request.labels['team'] == 'db'\", decision: allow }",
      ].join('\n'),
    );
    const { trace } = await explain(b, create(PolicyCheckRequestSchema, { estimatedCost: 5 }));
    expect(trace[0]?.failed).toBe('when: request.estimated_cost < 1.0 is false');
    expect(trace[1]?.failed).toMatch(/^when: error: .*team/);
  });

  it('reads velocity without counting, and matches evaluate with dryRun', async () => {
    const b = loadBundle(
      'rules:\n  - { id: v, velocity: { key: [tenant], limit: 1, window_seconds: 60 }, decision: throttle }\ndefault_decision: allow',
    );
    const velocity = createMemoryVelocityCounter();
    const req = create(PolicyCheckRequestSchema, { tenant: 'acme' });
    const first = await explain(b, req, { velocity, now: 1000 });
    expect(first.trace[0]).toMatchObject({ matched: false, velocity: { count: 1, limit: 1, windowMs: 60_000 } });
    expect(first.trace[0]?.failed).toBe('velocity 1 of 1 per 60s for [tenant] is within the limit');
    await evaluate(b, req, { velocity, now: 1000 });
    const second = await explain(b, req, { velocity, now: 1000 });
    expect(second.response).toMatchObject({ ruleId: 'v', decision: DecisionType.THROTTLE });
    expect(second.trace[0]).toMatchObject({ matched: true, selected: true, velocity: { count: 2 } });
    // Explain never counted: one real hit so far, so a dry-run evaluate agrees with explain.
    expect((await evaluate(b, req, { velocity, now: 1000, dryRun: true })).ruleId).toBe('v');
    expect((await explain(b, req, { velocity, now: 1000 })).trace[0]?.velocity?.count).toBe(2);
  });
});
