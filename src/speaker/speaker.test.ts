import { describe, expect, it } from 'vitest';
import type { OwnedSet } from '../announcer/announcer.js';
import { SimCluster } from '../../test/fakes/sim-cluster.js';
import { silentLogger } from '../observability/logger.js';
import { FakeLinks } from '../../test/fakes/fake-links.js';
import { Speaker, type AnnouncerPort } from './speaker.js';
import type { ServiceSpec } from './ownership.js';

class RecordingAnnouncer implements AnnouncerPort {
  owned: OwnedSet = new Map();
  history: { t: number; ips: string[] }[] = [];
  reannounced = 0;
  constructor(private readonly now: () => number) {}
  setOwned(owned: OwnedSet): void {
    const ips = [...owned.keys()].sort();
    const last = this.history.at(-1)?.ips ?? [];
    if (ips.join() !== last.join()) this.history.push({ t: this.now(), ips });
    this.owned = owned;
  }
  reannounce(): void {
    this.reannounced++;
  }
  prepare(): void {}
  forgetInterface(): void {}
  stop(): void {}
}

const WEB: ServiceSpec = { name: 'web', addresses: ['192.0.2.200', '2001:db8::200'], nodes: ['node-0', 'node-1', 'node-2'] };

async function cluster(seed = 1, loss = 0) {
  const sim = new SimCluster({ size: 3, seed, loss });
  const nodes = sim.nodes.map((n, i) => {
    const links = new FakeLinks(['eth0'], i + 1);
    const announcer = new RecordingAnnouncer(() => sim.clock.now());
    const speaker = new Speaker({ self: n.name, clock: sim.clock, logger: silentLogger(), membership: n.membership, links, announcer });
    speaker.setDesired({ services: [WEB] });
    return { name: n.name, links, announcer, speaker };
  });
  for (const n of nodes) await n.speaker.start();
  sim.advance(500);
  const owners = () => nodes.filter((n) => n.announcer.owned.size > 0).map((n) => n.name);
  return { sim, nodes, owners };
}

describe('speaker', () => {
  it('elects exactly one owner, which announces every VIP of the service on its interface', async () => {
    const { nodes, owners } = await cluster();
    expect(owners()).toHaveLength(1);
    const owner = nodes.find((n) => n.name === owners()[0])!;
    expect([...owner.announcer.owned.keys()].sort()).toEqual(['192.0.2.200', '2001:db8::200']);
    expect([...owner.announcer.owned.get('192.0.2.200')!]).toEqual(['eth0']);
    const seen = new Set(nodes.map((n) => n.speaker.currentOwners().get('web')));
    expect(seen.size).toBe(1);
  });

  it('moves the VIPs to another node within 150 ms of the owner crashing', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const { sim, nodes, owners } = await cluster(seed);
      const [old] = owners();
      const t0 = sim.clock.now();
      sim.crash(old!);
      let took: number | undefined;
      for (let t = 0; t < 1000 && took === undefined; t++) {
        sim.advance(1);
        const o = nodes.filter((n) => n.name !== old && n.announcer.owned.size > 0);
        if (o.length === 1) took = sim.clock.now() - t0;
      }
      expect(took).toBeDefined();
      expect(took!).toBeLessThan(150);
    }
  });

  it('hands over on a graceful stop: the successor announces before the old owner stops answering', async () => {
    const { sim, nodes, owners } = await cluster();
    const old = nodes.find((n) => n.name === owners()[0])!;
    let done = false;
    const stopping = old.speaker.stop().then(() => (done = true));
    // Drive the virtual clock and let promise continuations run between steps.
    for (let i = 0; i < 1000 && !done; i++) {
      sim.advance(1);
      await new Promise((r) => setImmediate(r));
    }
    await stopping;
    const successor = nodes.find((n) => n !== old && n.announcer.owned.size > 0)!;
    expect(successor).toBeDefined();
    const gained = successor.announcer.history.at(-1)!.t;
    const released = old.announcer.history.at(-1)!;
    expect(released.ips).toEqual([]);
    expect(gained).toBeLessThan(released.t);
  });

  it('gives the VIPs up when the announcing interface loses carrier, and the others take over', async () => {
    const { sim, nodes, owners } = await cluster();
    const old = nodes.find((n) => n.name === owners()[0])!;
    old.links.setCarrier('eth0', false);
    expect(old.announcer.owned.size).toBe(0);
    sim.advance(50);
    expect(owners()).toHaveLength(1);
    expect(owners()[0]).not.toBe(old.name);
  });

  it('converges to one owner after a partition heals', async () => {
    const { sim, nodes, owners } = await cluster(7);
    const [a] = owners();
    const others = nodes.filter((n) => n.name !== a).map((n) => sim.node(n.name).address);
    const aAddr = sim.node(a!).address;
    for (const o of others) {
      sim.network.block(aAddr, o);
      sim.network.block(o, aAddr);
    }
    sim.advance(1000);
    expect(owners()).toHaveLength(2);
    for (const o of others) {
      sim.network.unblock(aAddr, o);
      sim.network.unblock(o, aAddr);
    }
    sim.advance(100);
    expect(owners()).toHaveLength(1);
    // The winner announces again: clients on the other side of the partition cached the loser.
    expect(nodes.find((n) => n.name === owners()[0])!.announcer.reannounced).toBeGreaterThan(0);
  });

  it('keeps no owner while nobody is a candidate, and never announces on a node outside `nodes`', async () => {
    const { sim, nodes } = await cluster();
    for (const n of nodes) n.speaker.setDesired({ services: [{ ...WEB, nodes: ['node-1'] }] });
    sim.advance(10);
    expect(nodes.filter((n) => n.announcer.owned.size > 0).map((n) => n.name)).toEqual(['node-1']);
    for (const n of nodes) n.speaker.setDesired({ services: [{ ...WEB, nodes: ['elsewhere'] }] });
    sim.advance(10);
    expect(nodes.every((n) => n.announcer.owned.size === 0)).toBe(true);
  });
});
