import { describe, expect, it } from 'vitest';
import type { OwnedSet } from '../announcer/announcer.js';
import { SimCluster } from '../../test/fakes/sim-cluster.js';
import { silentLogger } from '../observability/logger.js';
import { FakeLinks } from '../../test/fakes/fake-links.js';
import { VirtualClock } from '../clock/virtual-clock.js';
import type { MembershipView } from '../membership/membership.js';
import { DIGEST_GRACE_MS, Speaker, YIELD_BATCH_MS, type AnnouncerPort, type ConflictDecision } from './speaker.js';
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
  defended: string[] = [];
  private conflictHandler: ((ip: string, iface: string, mac: Uint8Array) => void) | undefined;
  defend(ip: string): void {
    this.defended.push(ip);
  }
  onConflict(handler: (ip: string, iface: string, mac: Uint8Array) => void): () => void {
    this.conflictHandler = handler;
    return () => (this.conflictHandler = undefined);
  }
  /** Another MAC claims `ip` on eth0, as a responder would report it. */
  conflict(ip: string, mac: Uint8Array): void {
    this.conflictHandler?.(ip, 'eth0', mac);
  }
  prepare(): void {}
  forgetInterface(): void {}
  stop(): void {}
}

const WEB: ServiceSpec = { name: 'web', addresses: ['192.0.2.200', '2001:db8::200'], nodes: ['node-0', 'node-1', 'node-2'] };

async function cluster(seed = 1, loss = 0, holdDownMs?: number) {
  const sim = new SimCluster({ size: 3, seed, loss });
  const nodes = sim.nodes.map((n, i) => {
    const links = new FakeLinks(['eth0'], i + 1);
    const announcer = new RecordingAnnouncer(() => sim.clock.now());
    const decisions: ConflictDecision[] = [];
    const speaker = new Speaker({ self: n.name, clock: sim.clock, logger: silentLogger(), membership: n.membership, links, announcer, holdDownMs, onConflictAction: (d) => decisions.push(d) });
    speaker.setDesired({ services: [WEB] });
    return { name: n.name, links, announcer, speaker, decisions };
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

describe('speaker under faults', () => {
  const macOf = (i: number) => Uint8Array.from([2, 0, 0, 0, i + 1, 2]);

  it('keeps the VIPs on the new owner while a revived owner settles, then hands them back once, and every node agrees', async () => {
    const { sim, nodes, owners } = await cluster(3, 0, 2000);
    const [a] = owners();
    const aAddr = sim.node(a!).address;
    const others = nodes.filter((n) => n.name !== a);
    // The owner goes quiet (an overloaded node whose heartbeats do not get out) long enough to be declared dead.
    for (const o of others) sim.network.block(aAddr, sim.node(o.name).address);
    sim.advance(400);
    const b = others.find((n) => n.announcer.owned.size > 0)!;
    expect(b).toBeDefined();
    for (const o of others) sim.network.unblock(aAddr, sim.node(o.name).address);
    sim.advance(20);
    // During the hold-down the revived node takes nothing back: one owner, the new one.
    for (let t = 100; t <= 1800; t += 100) {
      sim.advance(100);
      expect(owners()).toEqual([b.name]);
    }
    sim.advance(500);
    expect(owners()).toEqual([a]);
    expect(new Set(nodes.map((n) => n.speaker.currentOwners().get('web')))).toEqual(new Set([a]));
  });

  it('doubles the hold-down of a node that flaps again (route-flap damping)', async () => {
    const { sim, nodes, owners } = await cluster(3, 0, 1000);
    const [a] = owners();
    const aAddr = sim.node(a!).address;
    const others = nodes.filter((n) => n.name !== a);
    const quiet = (ms: number) => {
      for (const o of others) sim.network.block(aAddr, sim.node(o.name).address);
      sim.advance(ms);
      for (const o of others) sim.network.unblock(aAddr, sim.node(o.name).address);
    };
    const backAfter = (): number => {
      for (let t = 0; t < 20_000; t += 50) {
        if (owners().length === 1 && owners()[0] === a) return t;
        sim.advance(50);
      }
      return Infinity;
    };
    quiet(400);
    const first = backAfter();
    quiet(400);
    const second = backAfter();
    expect(first).toBeGreaterThanOrEqual(900);
    expect(first).toBeLessThan(1600);
    expect(second).toBeGreaterThanOrEqual(1900);
    expect(second).toBeLessThan(2600);
  });

  it('announces again at once when it refutes a suspicion', async () => {
    const { sim, nodes, owners } = await cluster(5);
    const owner = nodes.find((n) => n.name === owners()[0])!;
    const before = owner.announcer.reannounced;
    const addr = sim.node(owner.name).address;
    // Peers stop hearing it for longer than suspectMs but less than deadMs.
    for (const o of nodes) if (o !== owner) sim.network.block(addr, sim.node(o.name).address);
    sim.advance(70);
    for (const o of nodes) if (o !== owner) sim.network.unblock(addr, sim.node(o.name).address);
    sim.advance(50);
    expect(owners()).toEqual([owner.name]);
    expect(owner.speaker.stats().refutations).toBeGreaterThan(0);
    expect(owner.announcer.reannounced).toBeGreaterThan(before);
  });

  it('defends an owned VIP against another host at most once per 10 s (RFC 5227 §2.4)', async () => {
    const { sim, nodes, owners } = await cluster();
    const owner = nodes.find((n) => n.name === owners()[0])!;
    const rogue = Uint8Array.from([0x0e, 1, 2, 3, 4, 5]);
    owner.announcer.conflict('192.0.2.200', rogue);
    owner.announcer.conflict('192.0.2.200', rogue);
    sim.advance(5000);
    owner.announcer.conflict('192.0.2.200', rogue);
    expect(owner.announcer.defended).toEqual(['192.0.2.200']);
    sim.advance(5001);
    owner.announcer.conflict('192.0.2.200', rogue);
    expect(owner.announcer.defended).toEqual(['192.0.2.200', '192.0.2.200']);
    expect(owners()).toEqual([owner.name]);
  });

  it('a draining owner never defends: the claim is its successor announcing (with a virtual MAC, from the same MAC)', async () => {
    const { sim, nodes, owners } = await cluster();
    const old = nodes.find((n) => n.name === owners()[0])!;
    let done = false;
    const stopping = old.speaker.stop().then(() => (done = true));
    sim.advance(1);
    await new Promise((r) => setImmediate(r));
    old.announcer.conflict('192.0.2.200', Uint8Array.from([0x02, 0, 0x67, 0x7c, 0x5a, 0xc0]));
    expect(old.announcer.defended).toEqual([]);
    for (let i = 0; i < 1000 && !done; i++) {
      sim.advance(1);
      await new Promise((r) => setImmediate(r));
    }
    await stopping;
  });

  it('resolves two of our speakers announcing one VIP: the one ranked first keeps it, the other yields', async () => {
    const { sim, nodes, owners } = await cluster(2);
    // A rolling config change: one node that does not own the service thinks it is its only candidate.
    const n2 = nodes.find((n) => n.name !== owners()[0])!;
    n2.speaker.setDesired({ services: [{ ...WEB, nodes: [n2.name] }] });
    sim.advance(50);
    const claimants = nodes.filter((n) => n.announcer.owned.size > 0);
    expect(claimants.length).toBe(2);
    // Each sees the other's gratuitous ARP.
    const idx = (name: string) => nodes.findIndex((n) => n.name === name);
    const [x, y] = claimants as [typeof n2, typeof n2];
    x.announcer.conflict('192.0.2.200', macOf(idx(y.name)));
    y.announcer.conflict('192.0.2.200', macOf(idx(x.name)));
    expect(nodes.filter((n) => n.announcer.owned.size > 0)).toHaveLength(1);
    expect(x.speaker.stats().splitBrains + y.speaker.stats().splitBrains).toBe(2);
    // The disagreement on services is seen through the digests, once it lasts.
    expect(nodes.some((n) => n.speaker.stats().digestMismatches > 0)).toBe(false);
    sim.advance(DIGEST_GRACE_MS + 10);
    expect(nodes.filter((n) => n.speaker.stats().digestMismatches === 1).length).toBeGreaterThanOrEqual(2);
    expect(nodes.every((n) => n.speaker.stats().digestMismatches <= 1)).toBe(true);
  });

  it('reports a disagreement on services only once the same digests last DIGEST_GRACE_MS: a stream of changes is not a mismatch', async () => {
    const { sim, nodes } = await cluster(3);
    const [a] = nodes;
    // One node runs ahead through a bulk change: a new service every second for 5 s.
    for (let i = 1; i <= 5; i++) {
      a!.speaker.setDesired({ services: [WEB, ...Array.from({ length: i }, (_, k) => ({ ...WEB, name: `svc${k}`, addresses: [`192.0.2.${10 + k}`] }))] });
      sim.advance(1000);
    }
    expect(nodes.map((n) => n.speaker.stats().digestMismatches)).toEqual([0, 0, 0]);
    // It stops there: the same disagreement, for longer than the grace.
    sim.advance(DIGEST_GRACE_MS + 100);
    expect(nodes.every((n) => n.speaker.stats().digestMismatches === 1)).toBe(true);
  });

  it('calls a claim by one of our speakers transient while their desired states differ or just changed, and not once they agree and 2 s passed', async () => {
    const { sim, nodes, owners } = await cluster(2);
    const owner = nodes.find((n) => n.name === owners()[0])!;
    const other = nodes.find((n) => n !== owner)!;
    const claim = () => owner.announcer.conflict('192.0.2.200', macOf(nodes.indexOf(other)));
    // Steady state, same services for 500 ms only: still within the grace of the start's change.
    claim();
    expect(owner.decisions.at(-1)).toMatchObject({ service: 'web', transient: true });
    sim.advance(DIGEST_GRACE_MS);
    claim();
    expect(owner.decisions.at(-1)!.transient).toBeUndefined();
    // The other node's desired state differs (a bulk change reaching it first): transient however long.
    other.speaker.setDesired({ services: [WEB, { ...WEB, name: 'web2', addresses: ['192.0.2.201'] }] });
    sim.advance(DIGEST_GRACE_MS + 100);
    claim();
    expect(owner.decisions.at(-1)).toMatchObject({ service: 'web', transient: true });
    // A MAC that is none of our speakers is never transient.
    owner.announcer.conflict('192.0.2.200', Uint8Array.from([0x0e, 9, 9, 9, 9, 9]));
    expect(owner.decisions.at(-1)!.transient).toBeUndefined();
  });

  it('a node that hears no peer yields a VIP that another host answers, until it hears its peers again', async () => {
    const { sim, nodes, owners } = await cluster(4);
    const [a] = owners();
    const deaf = nodes.find((n) => n.name !== a)!;
    const deafAddr = sim.node(deaf.name).address;
    // Asymmetric partition: it sends, but hears nobody.
    for (const o of nodes) if (o !== deaf) sim.network.block(sim.node(o.name).address, deafAddr);
    sim.advance(400);
    expect(deaf.announcer.owned.size).toBeGreaterThan(0);
    const owner = nodes.find((n) => n.name === a)!;
    // The real owner sees the deaf node's announcement and defends; the deaf node sees that.
    owner.announcer.conflict('192.0.2.200', macOf(nodes.indexOf(deaf)));
    expect(owner.announcer.owned.size).toBeGreaterThan(0);
    deaf.announcer.conflict('192.0.2.200', macOf(nodes.indexOf(owner)));
    expect(deaf.announcer.owned.size).toBe(0);
    expect(owners()).toEqual([a]);
    for (const o of nodes) if (o !== deaf) sim.network.unblock(sim.node(o.name).address, deafAddr);
    sim.advance(4000);
    expect(owners()).toHaveLength(1);
  });
});

describe('speaker under a conflict storm', () => {
  it('a deaf node seeing another host answer for many VIPs yields them all, re-electing once per batch, not once per frame', async () => {
    const services: ServiceSpec[] = Array.from({ length: 200 }, (_, i) => ({ name: `s${i}`, addresses: [`198.18.0.${i}`], nodes: ['node-0', 'node-1', 'node-2'] }));
    const sim = new SimCluster({ size: 3, seed: 7, loss: 0 });
    const nodes = sim.nodes.map((n, i) => {
      const announcer = new RecordingAnnouncer(() => sim.clock.now());
      const speaker = new Speaker({ self: n.name, clock: sim.clock, logger: silentLogger(), membership: n.membership, links: new FakeLinks(['eth0'], i + 1), announcer });
      speaker.setDesired({ services });
      return { name: n.name, announcer, speaker };
    });
    for (const n of nodes) await n.speaker.start();
    sim.advance(500);
    const deaf = nodes[0]!;
    const deafAddr = sim.node(deaf.name).address;
    for (const o of nodes.slice(1)) sim.network.block(sim.node(o.name).address, deafAddr);
    sim.advance(400);
    // Hearing nobody, it announces every VIP; the others answer for theirs.
    expect(deaf.announcer.owned.size).toBe(200);
    let setOwnedCalls = 0;
    const real = deaf.announcer.setOwned.bind(deaf.announcer);
    deaf.announcer.setOwned = (owned) => {
      setOwnedCalls++;
      real(owned);
    };
    const other = Uint8Array.from([2, 0, 0, 0, 2, 2]);
    for (const s of services) deaf.announcer.conflict(s.addresses[0]!, other);
    // The first yield is applied at once, the rest at the end of the batch.
    expect(deaf.announcer.owned.size).toBe(199);
    sim.advance(YIELD_BATCH_MS);
    expect(deaf.announcer.owned.size).toBe(0);
    expect(deaf.speaker.stats().yields).toBe(200);
    expect(setOwnedCalls).toBeLessThanOrEqual(4);
  });
});

describe('speaker metadata', () => {
  it('publishes once when the membership notifies its handlers synchronously from setMetadata', async () => {
    const handlers = new Set<(v: MembershipView) => void>();
    let published = 0;
    const view = (): MembershipView => ({ alive: new Set(['a']), members: new Map() });
    const membership = {
      view,
      onChange: (h: (v: MembershipView) => void) => {
        handlers.add(h);
        return () => void handlers.delete(h);
      },
      setMetadata: () => {
        published++;
        for (const h of handlers) h(view());
      },
      start: () => Promise.resolve(),
      leave: () => Promise.resolve(),
    };
    const clock = new VirtualClock();
    const speaker = new Speaker({ self: 'a', clock, logger: silentLogger(), membership, links: new FakeLinks(['eth0']), announcer: new RecordingAnnouncer(() => clock.now()) });
    speaker.setDesired({ services: [WEB] });
    await speaker.start();
    expect(published).toBeGreaterThan(0);
    expect(published).toBeLessThan(5);
  });
});
