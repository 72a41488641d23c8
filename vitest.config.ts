import { defineConfig } from 'vitest/config'

// Tests whose subject is global to the machine run alone, after the others: uprobes on shared
// executables and libraries (every TLS tap test sees every process that uses them), captures on every
// veth or on "any" (they see the namespaces other tests make), and full-load runs (0 lost exchanges
// at full CPU is only meaningful when nothing else competes for it).
const EXCLUSIVE = [
  'test/integration/*tls*.test.ts',
  'test/integration/capture-veth*.test.ts',
  'test/integration/capture-any-iface.test.ts',
  'test/integration/live-load.test.ts',
  // stops podtap for 1.5 s against a 3.2 s ring: other tests' load must not stretch the pause
  'test/integration/capture-ring-stall.test.ts',
]

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // the CLIs tests spawn write their log lines as on a terminal ("podtap: ..."), which the tests read;
    // the JSON lines a pipe gets by default are tested where asked for (--log-format json)
    env: { PODTAP_LOG_FORMAT: 'human' },
    projects: [
      {
        extends: true,
        test: {
          name: 'parallel',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/node_modules/**', ...EXCLUSIVE],
          // integration tests make their own namespaces, addresses and ports: files run side by side
          fileParallelism: true,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'exclusive',
          include: EXCLUSIVE,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
})
