import { fileURLToPath } from 'node:url';

/**
 * The policy bundle `capstan dev` gives the safety kernel unless `CAPSTAN_POLICY_FILE` names another: allows the
 * demo topics, denies `job.shell.>`, sends `job.deploy.>` to a human, denies the rest (see docs/policy.md).
 * It ships in the package's `policies/` directory, which sits one level above both `src/` and `dist/`, so the
 * same relative URL works from source and from the build.
 */
export const DEV_POLICY_FILE = fileURLToPath(new URL('../../policies/dev-policy.yaml', import.meta.url));
