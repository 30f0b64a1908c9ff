import type { PolicyBundle } from '@capstan/policy';

/** `job_id` written anywhere in a CEL expression (field access, has(), a string key). */
const MENTIONS_JOB_ID = /\bjob_id\b/;

/**
 * True when a bundle's decisions depend on the request alone, apart from its job id: no velocity rule (the answer
 * depends on other requests) and no `when:` that reads `job_id`. Clients may then cache decisions by snapshot +
 * request hash without the job id (PolicyChanged.cacheable).
 */
export function isBundleCacheable(bundle: PolicyBundle): boolean {
  return bundle.rules.every((rule) => !rule.velocity && !(rule.when && MENTIONS_JOB_ID.test(rule.when.source)));
}
