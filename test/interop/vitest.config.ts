import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('../..', import.meta.url));

// The interop suite: its own config (the root config never picks up *.interop.ts), the same test servers as the
// unit suite (NATS, Redis, Postgres from @capstan/testkit), and the scenario × language table at the end.
// Run it through `npm run test:interop` (test/interop/run.sh), which fetches the SDKs and builds the programs first.
export default defineConfig({
  root,
  resolve: { conditions: ['@capstan/source'] },
  ssr: { resolve: { conditions: ['@capstan/source'] } },
  test: {
    include: ['test/interop/**/*.interop.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    globalSetup: ['./packages/testkit/src/vitest-global-setup.ts'],
    reporters: ['default', './test/interop/table-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 90_000,
    pool: 'forks',
    // Two cores: one file per language at a time, side by side.
    maxWorkers: 2,
  },
});
