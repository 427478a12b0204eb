import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { binNodeFlags } from '../../../src/lab/standalone-runner.js';

describe('bin/l2vip.js node flags', () => {
  it('reads the flags of the `#!/usr/bin/env -S node ...` line', () => {
    expect(binNodeFlags()).toEqual(['--max-semi-space-size=1', '--heap-growing-percent=50']);
  });

  it('node takes them and keeps the young generation at 2 x 1 MB under allocation', () => {
    const script = `
      const v8 = require('node:v8');
      let keep = [];
      for (let i = 0; i < 2e6; i++) { keep.push({ i }); if (keep.length > 20000) keep = []; }
      console.log(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size);`;
    const r = spawnSync(process.execPath, [...binNodeFlags(), '-e', script], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(Number(r.stdout.trim())).toBeLessThanOrEqual(2 * 1024 * 1024);
  });

  it('the image runs node with the same flags (Dockerfile ENTRYPOINT)', () => {
    const dockerfile = readFileSync(new URL('../../../Dockerfile', import.meta.url), 'utf8');
    const entry = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
    expect(entry).toBeDefined();
    expect(JSON.parse(entry ?? '[]')).toEqual(['node', ...binNodeFlags(), '/app/bin/l2vip.js']);
  });
});
