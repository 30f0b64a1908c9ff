import { readFileSync } from 'node:fs';
import { create } from '@bufbuild/protobuf';
import { DecisionType, PolicyCheckRequestSchema } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { evaluate, loadBundle, runBundleTests } from '@capstan/policy';
import { describe, expect, it } from 'vitest';
import { DEV_POLICY_FILE } from './dev-policy.js';
import { ECHO_TOPIC } from './echo-worker-dev-service.js';

const bundle = loadBundle(readFileSync(DEV_POLICY_FILE, 'utf8'), { file: DEV_POLICY_FILE });
const decide = async (topic: string, tenant = 'default') =>
  (await evaluate(bundle, create(PolicyCheckRequestSchema, { topic, tenant }), { dryRun: true })).decision;

describe('the capstan dev policy bundle', () => {
  it('passes its embedded tests', async () => {
    const results = await runBundleTests(bundle);
    expect(results.length).toBeGreaterThanOrEqual(5);
    expect(results.filter((r) => !r.passed).map((r) => `${r.name}: ${r.message}`)).toEqual([]);
  });

  it("allows the dev echo pool's topic and the README worker's, denies shell, holds deploys, denies the rest", async () => {
    expect(await decide(ECHO_TOPIC)).toBe(DecisionType.ALLOW);
    expect(await decide('job.summarize')).toBe(DecisionType.ALLOW);
    expect(await decide('job.shell.x')).toBe(DecisionType.DENY);
    expect(await decide('job.deploy.prod')).toBe(DecisionType.REQUIRE_HUMAN);
    expect(await decide('job.anything.else')).toBe(DecisionType.DENY);
  });

  it('decides gateway jobs, whose tenant is the organization id, like any other tenant’s', async () => {
    const organization = 'org_0123456789abcdef0123456789abcdef';
    expect(await decide(ECHO_TOPIC, organization)).toBe(DecisionType.ALLOW);
    expect(await decide('job.shell.x', organization)).toBe(DecisionType.DENY);
    expect(await decide('job.anything.else', organization)).toBe(DecisionType.DENY);
  });
});
