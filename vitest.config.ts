import { defineConfig } from 'vitest/config';

// Two cores on CI machines: run test files in parallel forks, but not more than that, since
// many tests drive real git, Docker and Spark processes.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 600_000,
    globalSetup: ['test/support/global-setup.ts'],
    // GitHub's workflow parser imports its JSON schemas without import attributes, which Node 20 refuses: let vite load it.
    server: { deps: { inline: ['@actions/workflow-parser'] } },
  },
});
