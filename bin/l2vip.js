#!/usr/bin/env node
// No V8 flags. Until 2026-11-30 this line set --max-semi-space-size=1 --heap-growing-percent=50
// (a smaller young generation, earlier full collections: less RSS). With the membership's beats on
// the addon's engine thread, an idle speaker allocates little, and the flags cost more CPU than
// they saved memory: 3 idle speakers measured 1.29-1.35 % of a core each with them, 0.91-1.01 %
// without (V8's concurrent marking on its worker threads), for 1-4 MB more RSS; a burst (5 000
// Services at once) peaks higher without them (docs/benchmarks.md). A line `#!/usr/bin/env -S node
// --flag ...` here is still read by the lab and the benches (src/lab/standalone-runner.ts).
import('../dist/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    process.stderr.write('l2vip: the CLI is not built: run "npm run build" (npm ci does it)\n');
    process.exit(2);
  }
  // Anything else is a bug: show it whole.
  process.stderr.write(`l2vip: unexpected error: ${err && err.stack ? err.stack : String(err)}\n`);
  process.exit(1);
});
