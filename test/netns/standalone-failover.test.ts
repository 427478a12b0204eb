import { afterAll, describe, expect, it } from 'vitest';
import { spawnRunner } from '../../src/host/command-runner.js';
import { Lab } from '../../src/lab/lab.js';
import { leftoverNamespaces } from '../../src/lab/topology.js';

const root = process.getuid?.() === 0;

describe.skipIf(!root)('standalone speakers in namespaces (lab)', () => {
  const lab = new Lab({ nodes: 3, fault: 'kill', loss: 0, trials: 1, keep: false, intervalMs: 2, runner: spawnRunner, print: () => undefined });

  afterAll(async () => {
    await lab.teardown();
  });

  it('elects one owner for both VIPs, and after kill -9 of every process of the owner the client reaches them through another node within 1 s', async () => {
    await lab.setup();
    const r = await lab.trial(1);
    expect(r.newOwner).toBeDefined();
    expect(r.newOwner).not.toBe(r.oldOwner);
    for (const f of [r.ipv4, r.ipv6]) {
      expect(f.lastNode).toBe(r.newOwner);
      expect(f.outageMs).toBeLessThan(1000);
    }
  }, 120_000);

  it('leaves no namespace behind', async () => {
    await lab.teardown();
    const left = await leftoverNamespaces(spawnRunner);
    expect(left.filter((n) => n.includes(lab.topo.id))).toEqual([]);
  });
});
