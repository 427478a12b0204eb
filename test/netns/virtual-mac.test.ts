import { afterAll, describe, expect, it } from 'vitest';
import { deriveVirtualMac } from '../../src/announcer/virtual-mac.js';
import { spawnRunner } from '../../src/host/command-runner.js';
import { Lab, type TrialResult } from '../../src/lab/lab.js';
import { ignoredGratuitous } from '../../src/lab/topology.js';

const root = process.getuid?.() === 0;
const VMAC = deriveVirtualMac('web');

function newLab(virtualMac: boolean, fault: 'kill' | 'stop' = 'kill'): Lab {
  return new Lab({
    nodes: 2,
    fault,
    loss: 0,
    trials: 1,
    keep: false,
    intervalMs: 5,
    runner: spawnRunner,
    print: () => undefined,
    clientIgnoresGratuitous: true,
    extraConfig: virtualMac ? 'virtualMac: true' : '',
  });
}

async function clientNeighbour(lab: Lab, ip: string): Promise<string> {
  const r = await spawnRunner.run('ip', ['-n', lab.topo.client.netns, 'neigh', 'show', ip, 'dev', 'eth0']);
  return /lladdr (\S+)/.exec(r.stdout)?.[1] ?? '';
}

/** Whether the node accepts the virtual MAC: in eth0's unicast filter and in the nftables set. */
async function accepts(lab: Lab, node: string): Promise<{ fdb: boolean; nft: boolean }> {
  const n = lab.topo.nodes.find((x) => x.name === node)!;
  const fdb = await spawnRunner.run('ip', ['netns', 'exec', n.netns, 'bridge', 'fdb', 'show', 'dev', 'eth0']);
  const nft = await spawnRunner.run('ip', ['netns', 'exec', n.netns, 'nft', 'list', 'table', 'netdev', 'l2vip_vmac']);
  return { fdb: fdb.stdout.includes(VMAC), nft: nft.stdout.includes(VMAC) };
}

/**
 * A client that drops gratuitous ARP and unsolicited NA (nftables in its namespace, as a router
 * that ignores them) with lowered neighbour timers (reachable 2 s, first probe after 1 s):
 * with a virtual MAC its neighbour entry never changes and it keeps reaching the VIPs after
 * kill -9 of the owner as fast as a normal client; without one it waits for its timers.
 */
describe.skipIf(!root)('virtual MAC: failover for a client that ignores gratuitous ARP/NA (lab, kill -9)', () => {
  const labs: Lab[] = [];
  const results: { virtualMac: boolean; r: TrialResult }[] = [];

  afterAll(async () => {
    for (const l of labs) await l.teardown();
    for (const { virtualMac, r } of results) {
      process.stdout.write(`virtual MAC ${virtualMac ? 'on ' : 'off'}: outage IPv4 ${r.ipv4.outageMs.toFixed(0)} ms, IPv6 ${r.ipv6.outageMs.toFixed(0)} ms\n`);
    }
  });

  it('with a virtual MAC: the client keeps its neighbour entries (the virtual MAC) and reaches both VIPs through the new owner within 1 s; the restarted old owner no longer accepts the MAC', async () => {
    const lab = newLab(true);
    labs.push(lab);
    await lab.setup();
    const owner = await lab.waitStable();
    expect(await clientNeighbour(lab, lab.topo.vip4)).toBe(VMAC);
    expect(await clientNeighbour(lab, lab.topo.vip6)).toBe(VMAC);
    // Only the owner accepts the MAC.
    expect(await accepts(lab, owner)).toEqual({ fdb: true, nft: true });
    const other = lab.topo.nodes.find((n) => n.name !== owner)!.name;
    expect(await accepts(lab, other)).toEqual({ fdb: false, nft: false });
    const r = await lab.trial(1);
    results.push({ virtualMac: true, r });
    expect(r.newOwner).toBe(other);
    expect(await accepts(lab, other)).toEqual({ fdb: true, nft: true });
    for (const f of [r.ipv4, r.ipv6]) {
      expect(f.lastNode).toBe(other);
      expect(f.outageMs).toBeLessThan(1000);
    }
    expect(await clientNeighbour(lab, lab.topo.vip4)).toBe(VMAC);
    expect(await clientNeighbour(lab, lab.topo.vip6)).toBe(VMAC);
    expect(await ignoredGratuitous(spawnRunner, lab.topo)).toBeGreaterThan(0);
    // The killed owner was restarted by the trial: its start removed what the killed run left.
    expect(await accepts(lab, owner)).toEqual({ fdb: false, nft: false });
    await lab.teardown();
  }, 180_000);

  it('without a virtual MAC (same client): the outage lasts until the client re-checks its neighbour entries', async () => {
    const lab = newLab(false);
    labs.push(lab);
    await lab.setup();
    const r = await lab.trial(1);
    results.push({ virtualMac: false, r });
    expect(r.newOwner).toBeDefined();
    expect(await ignoredGratuitous(spawnRunner, lab.topo)).toBeGreaterThan(0);
    for (const f of [r.ipv4, r.ipv6]) {
      expect(f.lastNode).toBe(r.newOwner);
      // At least the first-probe delay (1 s) passes before the client asks again.
      expect(f.outageMs).toBeGreaterThan(1000);
    }
    await lab.teardown();
  }, 180_000);

  it('with a virtual MAC, a planned stop (SIGTERM) hands the VIPs over with at most a few probes lost', async () => {
    const lab = newLab(true, 'stop');
    labs.push(lab);
    await lab.setup();
    const r = await lab.trial(1);
    expect(r.newOwner).toBeDefined();
    for (const f of [r.ipv4, r.ipv6]) {
      expect(f.lastNode).toBe(r.newOwner);
      expect(f.lost + f.late).toBeLessThanOrEqual(3);
    }
    expect(await clientNeighbour(lab, lab.topo.vip4)).toBe(VMAC);
    await lab.teardown();
  }, 180_000);
});
