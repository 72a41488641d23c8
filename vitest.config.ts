import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // integration tests create network namespaces and servers: never run two files of them at once
    fileParallelism: true,
    pool: 'forks',
  },
})
