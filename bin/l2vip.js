#!/usr/bin/env node
import('../dist/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    process.stderr.write('l2vip: the CLI is not built: run "npm run build" (npm ci does it)\n');
    process.exit(2);
  }
  // Anything else is a bug: show it whole.
  process.stderr.write(`l2vip: unexpected error: ${err && err.stack ? err.stack : String(err)}\n`);
  process.exit(1);
});
