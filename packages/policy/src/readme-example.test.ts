import { readFileSync } from 'node:fs';
import { create } from '@bufbuild/protobuf';
import { DecisionType, PolicyCheckRequestSchema } from '@capstan/gen/cordum/agent/v1/safety_pb';
import { describe, expect, it } from 'vitest';
import { runBundleTests } from './bundle-tests.js';
import { evaluate } from './evaluate.js';
import { loadBundle } from './load-bundle.js';

// The README's bundle is loaded as written, so the documented format cannot drift from the real one.
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const yaml = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';

describe('README bundle example', () => {
  it('loads, passes its embedded tests and decides as documented', async () => {
    const bundle = loadBundle(yaml, { file: 'README.md' });
    expect(bundle.rules.map((r) => r.id)).toEqual(['allow-echo', 'no-prod-deletes', 'slow-down', 'bounded']);
    expect((await runBundleTests(bundle)).every((r) => r.passed)).toBe(true);
    const bounded = await evaluate(bundle, create(PolicyCheckRequestSchema, { meta: { capability: 'code.write' } }));
    expect(bounded.decision).toBe(DecisionType.ALLOW_WITH_CONSTRAINTS);
    expect(bounded.remediations[0]?.replacementCapability).toBe('code.write.sandboxed');
    expect(bounded.constraints?.sandbox?.fsReadWrite).toEqual(['/tmp']);
  });
});
