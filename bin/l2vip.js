#!/usr/bin/env node
import('../dist/cli/main.js').catch((err) => {
  process.stderr.write(`l2vip: cannot start (${err instanceof Error ? err.message : String(err)}); run "npm run build" first\n`);
  process.exit(2);
});
