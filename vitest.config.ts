import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // integration tests create network namespaces and servers: never run two files of them at once
    fileParallelism: true,
    pool: 'forks',
    // the CLIs tests spawn write their log lines as on a terminal ("podtap: ..."), which the tests read;
    // the JSON lines a pipe gets by default are tested where asked for (--log-format json)
    env: { PODTAP_LOG_FORMAT: 'human' },
  },
})
