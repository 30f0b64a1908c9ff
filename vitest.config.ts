import { defineConfig } from 'vitest/config';

// Tests import workspace packages from source through the `@capstan/source` export condition, so no build is needed.
export default defineConfig({
  resolve: { conditions: ['@capstan/source'] },
  ssr: { resolve: { conditions: ['@capstan/source'] } },
  test: {
    include: ['packages/**/*.test.ts', 'services/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    globalSetup: ['./packages/testkit/src/vitest-global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
