import { create } from '@bufbuild/protobuf';
import { ActorType } from '@capstan/gen/cordum/agent/v1/job_pb';
import {
  DecisionType,
  type PolicyCheckRequest,
  PolicyCheckRequestSchema,
} from '@capstan/gen/cordum/agent/v1/safety_pb';
import { describe, expect, it } from 'vitest';
import { PolicyArgumentError } from './errors.js';
import { evaluate } from './evaluate.js';
import { loadBundle } from './load-bundle.js';
import { createMemoryVelocityCounter } from './memory-velocity-counter.js';

type RequestInit = Parameters<typeof create<typeof PolicyCheckRequestSchema>>[1];
const request = (init: RequestInit): PolicyCheckRequest => create(PolicyCheckRequestSchema, init);

/** A bundle with one rule `hit` (allow) built from a match block; everything else is denied by default. */
function oneRule(match: string, extra = ''): ReturnType<typeof loadBundle> {
  return loadBundle(`rules:\n  - id: hit\n    match: ${match}\n    decision: allow\n${extra}`);
}

async function decides(bundle: ReturnType<typeof loadBundle>, init: RequestInit): Promise<string> {
  return (await evaluate(bundle, request(init))).ruleId;
}

describe('evaluate: match fields', () => {
  it('tenants (request.tenant, falling back to meta.tenant_id)', async () => {
    const b = oneRule('{ tenants: [acme, globex] }');
    expect(await decides(b, { tenant: 'acme' })).toBe('hit');
    expect(await decides(b, { meta: { tenantId: 'globex' } })).toBe('hit');
    expect(await decides(b, { tenant: 'initech' })).toBe('default');
  });

  it('topic globs', async () => {
    const b = oneRule('{ topics: ["job.echo", "job.db.*", "job.llm.>"] }');
    expect(await decides(b, { topic: 'job.echo' })).toBe('hit');
    expect(await decides(b, { topic: 'job.db.drop' })).toBe('hit');
    expect(await decides(b, { topic: 'job.llm.chat.big' })).toBe('hit');
    expect(await decides(b, { topic: 'job.db.drop.all' })).toBe('default');
    expect(await decides(b, { topic: 'job.llm' })).toBe('default');
  });

  it('capabilities any-of', async () => {
    const b = oneRule('{ capabilities: [code.write, code.read] }');
    expect(await decides(b, { meta: { capability: 'code.read' } })).toBe('hit');
    expect(await decides(b, { meta: { capability: 'net.fetch' } })).toBe('default');
    expect(await decides(b, {})).toBe('default');
  });

  it('risk_tags any-of', async () => {
    const b = oneRule('{ risk_tags: [destructive, pii] }');
    expect(await decides(b, { meta: { riskTags: ['cheap', 'pii'] } })).toBe('hit');
    expect(await decides(b, { meta: { riskTags: ['cheap'] } })).toBe('default');
  });

  it('requires all-of', async () => {
    const b = oneRule('{ requires: [gpu, network] }');
    expect(await decides(b, { meta: { requires: ['network', 'gpu', 'disk'] } })).toBe('hit');
    expect(await decides(b, { meta: { requires: ['gpu'] } })).toBe('default');
  });

  it('actor ids (meta.actor_id, falling back to principal_id) and actor types', async () => {
    const ids = oneRule('{ actor_ids: [alice] }');
    expect(await decides(ids, { meta: { actorId: 'alice' } })).toBe('hit');
    expect(await decides(ids, { principalId: 'alice' })).toBe('hit');
    expect(await decides(ids, { meta: { actorId: 'bob' }, principalId: 'alice' })).toBe('default');
    const types = oneRule('{ actor_types: [human] }');
    expect(await decides(types, { meta: { actorType: ActorType.HUMAN } })).toBe('hit');
    expect(await decides(types, { meta: { actorType: ActorType.SERVICE } })).toBe('default');
    expect(await decides(types, {})).toBe('default');
  });

  it('labels must all equal (meta.labels win over labels)', async () => {
    const b = oneRule('{ labels: { env: prod, team: db } }');
    expect(await decides(b, { meta: { labels: { env: 'prod', team: 'db' } } })).toBe('hit');
    expect(await decides(b, { labels: { env: 'prod' }, meta: { labels: { team: 'db' } } })).toBe('hit');
    expect(await decides(b, { labels: { env: 'prod', team: 'db' }, meta: { labels: { env: 'dev' } } })).toBe('default');
    expect(await decides(b, { labels: { env: 'prod' } })).toBe('default');
  });

  it('label allow-lists: a present label must be listed, an absent one passes', async () => {
    const b = oneRule('{ label_allowlist: { region: [eu-west, eu-north] } }');
    expect(await decides(b, { labels: { region: 'eu-west' } })).toBe('hit');
    expect(await decides(b, {})).toBe('hit');
    expect(await decides(b, { labels: { region: 'us-east' } })).toBe('default');
  });

  it('does not treat inherited object keys as labels', async () => {
    const b = oneRule('{ labels: { constructor: x } }');
    expect(await decides(b, {})).toBe('default');
  });

  it('a rule without match matches everything; all conditions must hold together', async () => {
    expect(await decides(oneRule('{}'), {})).toBe('hit');
    const b = oneRule('{ topics: [job.echo], tenants: [acme] }');
    expect(await decides(b, { topic: 'job.echo', tenant: 'other' })).toBe('default');
  });
});

describe('evaluate: CEL when', () => {
  const b = loadBundle(
    [
      'rules:',
      '  - id: prod',
      "    when: \"request.meta.labels['env'] == 'prod' && request.estimated_cost > 1.5\"",
      '    decision: require_human',
      '  - id: missing-label',
      "    when: request.labels['absent'] == 'x'",
      '    decision: deny',
      '  - id: not-bool',
      '    when: request.topic',
      '    decision: deny',
      'default_decision: allow',
    ].join('\n'),
  );

  it('true matches, false does not', async () => {
    const yes = await evaluate(b, request({ estimatedCost: 2, meta: { labels: { env: 'prod' } } }));
    expect(yes).toMatchObject({ ruleId: 'prod', decision: DecisionType.REQUIRE_HUMAN, approvalRequired: true });
    const no = await evaluate(b, request({ estimatedCost: 1, meta: { labels: { env: 'prod' } } }));
    expect(no.ruleId).toBe('default');
  });

  it('a runtime error or a non-bool result means the rule does not match', async () => {
    // meta unset: the map lookup of a missing key errors at runtime; `request.topic` is a string, not a bool.
    const r = await evaluate(b, request({ topic: 'job.x' }));
    expect(r).toMatchObject({ ruleId: 'default', decision: DecisionType.ALLOW });
  });
});

describe('evaluate: order, default and response', () => {
  it('the first matching rule wins', async () => {
    const b = loadBundle(
      'rules:\n  - { id: first, match: { topics: ["job.>"] }, decision: deny }\n  - { id: second, match: { topics: [job.echo] }, decision: allow }',
    );
    expect(await evaluate(b, request({ topic: 'job.echo' }))).toMatchObject({
      ruleId: 'first',
      decision: DecisionType.DENY,
    });
  });

  it('no match: the default decision with rule_id "default", snapshot always set', async () => {
    const b = loadBundle('version: 7\nrules: []');
    const r = await evaluate(b, request({ topic: 'job.echo' }));
    expect(r).toMatchObject({
      decision: DecisionType.DENY,
      ruleId: 'default',
      policySnapshot: b.snapshotId,
      reason: 'no rule matched; default decision deny',
      approvalRequired: false,
    });
    expect(r.policySnapshot).toMatch(/@7$/);
  });

  it('allow with constraints is returned as ALLOW_WITH_CONSTRAINTS, with remediations', async () => {
    const b = loadBundle(
      [
        'rules:',
        '  - id: bounded',
        '    decision: allow',
        '    reason: bounded code writes',
        '    constraints:',
        '      budgets: { max_runtime_ms: 60000, max_retries: 1 }',
        '      sandbox: { isolated: true, network_allowlist: [pypi.org] }',
        '      toolchain: { allowed_tools: [git] }',
        '      diff: { max_files: 10, deny_path_globs: ["secrets/**"] }',
        '      redaction_level: strict',
        '    remediations:',
        '      - { id: use-sandbox, title: Run in the sandbox pool, replacement_topic: job.sandbox.run, add_labels: { pool: sandbox }, remove_labels: [gpu] }',
      ].join('\n'),
    );
    const r = await evaluate(b, request({}));
    expect(r.decision).toBe(DecisionType.ALLOW_WITH_CONSTRAINTS);
    expect(r.reason).toBe('bounded code writes');
    expect(r.constraints?.budgets).toMatchObject({ maxRuntimeMs: 60000n, maxRetries: 1 });
    expect(r.constraints?.sandbox).toMatchObject({ isolated: true, networkAllowlist: ['pypi.org'] });
    expect(r.constraints?.toolchain?.allowedTools).toEqual(['git']);
    expect(r.constraints?.diff).toMatchObject({ maxFiles: 10, denyPathGlobs: ['secrets/**'] });
    expect(r.constraints?.redactionLevel).toBe('strict');
    expect(r.remediations).toHaveLength(1);
    expect(r.remediations[0]).toMatchObject({
      id: 'use-sandbox',
      title: 'Run in the sandbox pool',
      replacementTopic: 'job.sandbox.run',
      addLabels: { pool: 'sandbox' },
      removeLabels: ['gpu'],
    });
    // Responses get their own copies: mutating one does not leak into the next.
    r.remediations[0]!.title = 'changed';
    expect((await evaluate(b, request({}))).remediations[0]?.title).toBe('Run in the sandbox pool');
  });
});

describe('evaluate: velocity', () => {
  const bundle = loadBundle(
    [
      'rules:',
      '  - id: slow-down',
      '    match: { topics: ["job.llm.>"] }',
      '    velocity: { key: [tenant, actor, "label:env"], limit: 2, window_seconds: 10 }',
      '    decision: throttle',
      'default_decision: allow',
    ].join('\n'),
  );
  const llm = (tenant: string) =>
    request({ topic: 'job.llm.chat', tenant, meta: { actorId: 'bot', labels: { env: 'prod' } } });

  it('fires only once a key exceeds the limit in the window, per key', async () => {
    const velocity = createMemoryVelocityCounter();
    const at = (now: number, tenant = 'acme') => evaluate(bundle, llm(tenant), { velocity, now });
    expect((await at(1000)).ruleId).toBe('default');
    expect((await at(2000)).ruleId).toBe('default');
    const third = await at(3000);
    expect(third).toMatchObject({ ruleId: 'slow-down', decision: DecisionType.THROTTLE });
    expect(third.reason).toBe('rule slow-down: 3 requests exceed the limit of 2 per 10s');
    expect((await at(3000, 'globex')).ruleId).toBe('default');
    // At 11.5 s the hits at 1 s is out of the window: 2 s, 3 s and 11.5 s remain -> still exceeded.
    expect((await at(11_500)).ruleId).toBe('slow-down');
    // At 13.5 s only 11.5 s and 13.5 s are in the window.
    expect((await at(13_500)).ruleId).toBe('default');
  });

  it('dryRun reads but does not count', async () => {
    const velocity = createMemoryVelocityCounter();
    for (let i = 0; i < 5; i++) {
      expect((await evaluate(bundle, llm('acme'), { velocity, now: 1000, dryRun: true })).ruleId).toBe('default');
    }
    await evaluate(bundle, llm('acme'), { velocity, now: 1000 });
    await evaluate(bundle, llm('acme'), { velocity, now: 1000 });
    expect((await evaluate(bundle, llm('acme'), { velocity, now: 1000, dryRun: true })).ruleId).toBe('slow-down');
  });

  it('requests that do not reach the velocity rule are not counted', async () => {
    const velocity = createMemoryVelocityCounter();
    for (let i = 0; i < 5; i++)
      await evaluate(bundle, request({ topic: 'job.echo', tenant: 'acme' }), { velocity, now: 1 });
    expect(velocity.size).toBe(0);
  });

  it('throws a clear error when a velocity rule is reached without a counter', async () => {
    await expect(evaluate(bundle, llm('acme'))).rejects.toThrow(PolicyArgumentError);
    await expect(evaluate(bundle, llm('acme'))).rejects.toThrow(/rule slow-down has a velocity limit/);
  });
});
