import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { binNodeFlags } from '../../../src/lab/standalone-runner.js';

describe('bin/l2vip.js node flags', () => {
  it('reads the flags of the `#!/usr/bin/env -S node ...` line: none today (the idle speaker is cheaper without them)', () => {
    expect(binNodeFlags()).toEqual([]);
  });

  it('the image runs node with the same flags (Dockerfile ENTRYPOINT)', () => {
    const dockerfile = readFileSync(new URL('../../../Dockerfile', import.meta.url), 'utf8');
    const entry = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
    expect(entry).toBeDefined();
    expect(JSON.parse(entry ?? '[]')).toEqual(['node', ...binNodeFlags(), '/app/bin/l2vip.js']);
  });
});
