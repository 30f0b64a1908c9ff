import { readFileSync } from 'node:fs';
import { fromJson } from '@bufbuild/protobuf';
import { PolicyCheckRequestSchema } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { explain, loadBundle, loadBundleTests, runBundleTests } from '@capstan/policy';
import { describe, expect, it } from 'vitest';

// docs/policy.md's examples are loaded and run as written, so the guide cannot drift from the real format.
const doc = readFileSync(new URL('../../../docs/policy.md', import.meta.url), 'utf8');

/** The text under a heading, up to the next heading of the same or a higher level (outside code blocks). */
function section(title: string): string {
  const lines = doc.split('\n');
  const first = lines.indexOf(title);
  expect(first, `section ${title}`).toBeGreaterThan(0);
  const level = title.indexOf(' ');
  let fenced = false;
  let last = lines.length;
  for (let i = first + 1; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.startsWith('```')) fenced = !fenced;
    const heading = /^(#+) /.exec(line);
    if (!fenced && heading && (heading[1] as string).length <= level) {
      last = i;
      break;
    }
  }
  return `${lines.slice(first, last).join('\n')}\n`;
}

const bundleYaml = /```yaml\n([\s\S]*?)```/.exec(section('## A bundle'))?.[1] ?? '';
const bundle = loadBundle(bundleYaml, { file: 'policy.yaml' });

describe('docs/policy.md', () => {
  it('shows a bundle that loads, uses every match field, and passes its own tests', async () => {
    expect(bundle.snapshotId).toMatch(/^[0-9a-f]{16}@2026-01-15$/);
    const results = await runBundleTests(bundle);
    expect(results.filter((r) => !r.passed).map((r) => `${r.name}: ${r.message}`)).toEqual([]);
    expect(results.length).toBeGreaterThanOrEqual(10);
    const fields = [
      'tenants',
      'topics',
      'capabilities',
      'risk_tags',
      'requires',
      'actor_ids',
      'actor_types',
      'labels',
      'label_allowlist',
    ];
    for (const field of fields) {
      expect(bundleYaml, field).toMatch(new RegExp(`[{\\s]${field}: `));
      expect(section('### `match:` fields'), field).toContain(`| \`${field}:`);
    }
    for (const decision of ['allow', 'deny', 'require_human', 'throttle', 'allow_with_constraints']) {
      expect(bundleYaml, decision).toContain(`decision: ${decision}\n`);
    }
  });

  it('shows a beside-the-bundle tests file that runs against the example bundle', async () => {
    const testsYaml = /```yaml\n# policy\.tests\.yaml\n([\s\S]*?)```/.exec(section('## Testing a bundle'))?.[1] ?? '';
    const cases = loadBundleTests(testsYaml, bundle, { file: 'policy.tests.yaml' });
    expect(cases).toHaveLength(1);
    const results = await runBundleTests({ ...bundle, tests: cases });
    expect(results.map((r) => [r.name, r.passed])).toEqual([['globex may not use the ops topics', true]]);
  });

  it('quotes the snapshot id and explain trace the example really produces', async () => {
    expect(section('## The `capstan policy` commands')).toContain(
      `policy.yaml: valid; snapshot ${bundle.snapshotId}, 7 rules, 11 tests`,
    );
    const request = fromJson(PolicyCheckRequestSchema, {
      topic: 'job.db.drop',
      tenant: 'acme',
      meta: { risk_tags: ['destructive'], labels: { env: 'prod' } },
    });
    const { text } = await explain(bundle, request);
    expect(doc).toContain(`${text}\napproval required\n`);
  });

  it('documents CEL examples that compile and hold for a request built to satisfy them all', async () => {
    const rows = [...section('### `when:` — CEL conditions').matchAll(/^\| `(.+?)` \| /gm)].map((m) =>
      (m[1] as string).replaceAll('\\|', '|'),
    );
    expect(rows.length).toBeGreaterThanOrEqual(12);
    const request = fromJson(PolicyCheckRequestSchema, {
      topic: 'job.db.drop',
      tenant: 'acme',
      priority: 'JOB_PRIORITY_CRITICAL',
      estimated_cost: 60,
      principal_id: 'svc-ci',
      labels: { env: 'prod' },
      budget: { max_total_tokens: '2000000' },
      input_size_bytes: '2000000',
      meta: {
        actor_id: 'alice',
        actor_type: 'ACTOR_TYPE_HUMAN',
        risk_tags: ['destructive', 'pii'],
        requires: ['git', 'docker'],
        labels: { region: 'eu-west-1' },
      },
    });
    for (const expression of rows) {
      const rule = loadBundle(`rules:\n  - id: r\n    when: ${JSON.stringify(expression)}\n    decision: allow\n`);
      const { trace } = await explain(rule, request);
      expect(trace[0], expression).toMatchObject({ matched: true });
    }
  });
});
