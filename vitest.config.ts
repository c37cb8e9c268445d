import { defineConfig } from 'vitest/config'

// One config for every workspace: tests sit beside the code (`x.test.ts`),
// tests that need a live peer are named `x.int.test.ts`.
export default defineConfig({
  test: {
    include: ['*/src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'data/**'],
    globalSetup: ['./test/global-setup.ts'],
    setupFiles: ['./test/kit-env.ts', './test/fail-on-console.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
})
