import { loadBundle } from '@capstan/policy';
import { describe, expect, it } from 'vitest';
import { BUILTIN_DENY_ALL_BUNDLE } from './builtin-bundle.js';
import { isBundleCacheable } from './bundle-cacheable.js';

const bundle = (rules: string) => loadBundle(`rules:\n${rules}`);

describe('isBundleCacheable', () => {
  it('is true when decisions depend on the request alone', () => {
    expect(isBundleCacheable(loadBundle(BUILTIN_DENY_ALL_BUNDLE))).toBe(true);
    expect(
      isBundleCacheable(
        bundle(
          '  - id: a\n    match: { topics: [job.x] }\n    when: "request.tenant == \'acme\'"\n    decision: allow\n',
        ),
      ),
    ).toBe(true);
  });

  it('is false with a velocity rule or a when: that reads job_id', () => {
    expect(
      isBundleCacheable(
        bundle('  - id: v\n    velocity: { key: [tenant], limit: 1, window_seconds: 1 }\n    decision: throttle\n'),
      ),
    ).toBe(false);
    expect(
      isBundleCacheable(bundle('  - id: j\n    when: "request.job_id.startsWith(\'x\')"\n    decision: deny\n')),
    ).toBe(false);
    expect(isBundleCacheable(bundle('  - id: j\n    when: "has(request.job_id)"\n    decision: deny\n'))).toBe(false);
  });
});
