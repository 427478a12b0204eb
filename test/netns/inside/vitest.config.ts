import { defineConfig } from 'vitest/config';

// Suites that must run inside a network namespace the outer test made (an AF_PACKET or
// rtnetlink socket works in the namespace of the process that opens it). Started only by
// test/netns/helpers/inside.ts, as `ip netns exec NS vitest run --config <this file> FILE`.
export default defineConfig({
  test: {
    include: ['test/netns/inside/**/*.inside.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    fileParallelism: false,
  },
});
