import { defineConfig } from 'vitest/config';

// Two projects: `unit` needs nothing but Node; `netns` builds network namespaces and
// needs root, the native addon and iproute2/arping/ndisc6. It skips itself without root.
// `npm test` runs them one after the other: the namespace tests run real failure detectors
// with 5 ms heartbeats and must not share the 2 CPUs with the CPU-heavy unit suites.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'netns',
          include: ['test/netns/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
