#!/usr/bin/env -S node --max-semi-space-size=1 --heap-growing-percent=50
// --max-semi-space-size=1: a young generation of 2 x 1 MB instead of up to 2 x 8 MB: an idle
// speaker's RSS is about 13 MB lower for about 0.1 % of a core more scavenging (docs/benchmarks.md).
// --heap-growing-percent=50: the next full collection when the old generation has grown by half of
// what survived the last one, instead of V8's dynamic factor (up to 4x for small heaps): a speaker
// taking 5 000 Services at once peaks at about 125 MB instead of 165 MB for about 20 % more CPU
// during the burst; it is a growth factor, not a cap, so a larger cluster cannot run out of heap.
// V8 reads them only at start, so they must be on node's command line; `node bin/l2vip.js` runs
// without it (the lab and benches read these flags from this line: src/lab/standalone-runner.ts).
import('../dist/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    process.stderr.write('l2vip: the CLI is not built: run "npm run build" (npm ci does it)\n');
    process.exit(2);
  }
  // Anything else is a bug: show it whole.
  process.stderr.write(`l2vip: unexpected error: ${err && err.stack ? err.stack : String(err)}\n`);
  process.exit(1);
});
