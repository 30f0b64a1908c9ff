import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('../..', import.meta.url));

// The fault suite: its own config (the root config runs only the quick `*.test.ts` faults; `*.fault.ts` are the slow
// ones), the shared test servers of @capstan/testkit, and the fault table at the end. Run it through
// `npm run test:faults` (test/faults/run.sh). One file at a time: the faults measure recovery times, and two runs
// competing for two cores would measure each other.
export default defineConfig({
  root,
  resolve: { conditions: ['@capstan/source'] },
  ssr: { resolve: { conditions: ['@capstan/source'] } },
  test: {
    include: ['test/faults/**/*.test.ts', 'test/faults/**/*.fault.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    globalSetup: ['./packages/testkit/src/vitest-global-setup.ts'],
    reporters: ['default', './test/faults/fault-table-reporter.ts'],
    testTimeout: 180_000,
    hookTimeout: 90_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
  },
});
