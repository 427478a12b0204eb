import { describe, expect, it } from 'vitest';
import type { OwnedSet } from '../announcer/announcer.js';
import { toOwnedIp } from '../announcer/owned-ips.js';
import { SimCluster } from '../../test/fakes/sim-cluster.js';
import { FakeLinks } from '../../test/fakes/fake-links.js';
import { silentLogger } from '../observability/logger.js';
import { OwnershipHistory } from './failover.js';
import type { ServiceSpec } from './ownership.js';
import { Speaker, type AnnouncerPort, type TakeoverCause } from './speaker.js';

/** Sends its "first gratuitous announcement" of each gained IP GARP_DELAY_MS after the gain, like a socket that takes a while. */
const GARP_DELAY_MS = 4;

class GarpAnnouncer implements AnnouncerPort {
  owned: OwnedSet = new Map();
  private conflictHandler: ((ip: string, iface: string, mac: Uint8Array) => void) | undefined;
  constructor(
    private readonly sim: SimCluster,
    private readonly history: OwnershipHistory,
  ) {}
  setOwned(owned: OwnedSet): void {
    for (const ip of owned.keys()) {
      if (this.owned.has(ip)) continue;
      this.sim.clock.setTimeout(() => {
        if (this.owned.has(ip)) this.history.firstGratuitous(toOwnedIp(ip)!.ip);
      }, GARP_DELAY_MS);
    }
    this.owned = owned;
  }
  conflict(ip: string, mac: Uint8Array): void {
    this.conflictHandler?.(ip, 'eth0', mac);
  }
  onConflict(handler: (ip: string, iface: string, mac: Uint8Array) => void): () => void {
    this.conflictHandler = handler;
    return () => (this.conflictHandler = undefined);
  }
  reannounce(): void {}
  defend(): void {}
  prepare(): void {}
  forgetInterface(): void {}
  stop(): void {}
}

const WEB: ServiceSpec = { name: 'web', addresses: ['192.0.2.200', '2001:db8::200'], nodes: ['node-0', 'node-1', 'node-2'] };

async function cluster(seed = 1) {
  const sim = new SimCluster({ size: 3, seed, loss: 0 });
  const nodes = sim.nodes.map((n, i) => {
    const links = new FakeLinks(['eth0'], i + 1);
    const history = new OwnershipHistory(sim.clock);
    const measured: { seconds: number; cause: TakeoverCause }[] = [];
    history.onFailover((seconds, cause) => measured.push({ seconds, cause }));
    const announcer = new GarpAnnouncer(sim, history);
    const speaker = new Speaker({
      self: n.name,
      clock: sim.clock,
      logger: silentLogger(),
      membership: n.membership,
      links,
      announcer,
      onOwnerChange: (c) => history.changed(c),
    });
    speaker.setDesired({ services: [WEB] });
    return { name: n.name, links, announcer, speaker, history, measured };
  });
  for (const n of nodes) await n.speaker.start();
  sim.advance(500);
  /** The one node announcing, crashed nodes aside (their speaker still runs, unheard). */
  const owner = (crashed?: string) => {
    const o = nodes.filter((n) => n.name !== crashed && n.announcer.owned.size > 0);
    expect(o).toHaveLength(1);
    return o[0]!;
  };
  return { sim, nodes, owner };
}

describe('ownership history and failover measurement', () => {
  it('counts the first election as a takeover by election, with no failover to measure', async () => {
    const { nodes, owner } = await cluster();
    const o = owner();
    expect(o.history.takeovers.get('election')).toBe(1);
    expect(o.measured).toEqual([]);
    for (const n of nodes) {
      const h = n.history.get('web')!;
      expect(h.owner).toBe(o.name);
      expect(h.since).toBeDefined();
      expect(h.lastFailover).toBeUndefined();
    }
  });

  it('measures a takeover after a crash from the death declaration to the first gratuitous announcement', async () => {
    const { sim, nodes, owner } = await cluster(3);
    const old = owner();
    sim.crash(old.name);
    sim.advance(1000);
    const next = owner(old.name);
    expect(next).not.toBe(old);
    expect(next.history.takeovers.get('death')).toBe(1);
    expect(next.measured).toHaveLength(1);
    expect(next.measured[0]!.cause).toBe('death');
    expect(next.measured[0]!.seconds).toBeGreaterThanOrEqual(GARP_DELAY_MS / 1000);
    expect(next.measured[0]!.seconds).toBeLessThan(0.05);
    const last = next.history.get('web')!.lastFailover!;
    expect(last).toMatchObject({ from: old.name, to: next.name, cause: 'death' });
    expect(last.durationMs).toBeCloseTo(next.measured[0]!.seconds * 1000, 6);
    // The third node saw the same failover, and measured nothing: it did not take over.
    const third = nodes.find((n) => n !== old && n !== next)!;
    expect(third.history.get('web')!.lastFailover).toMatchObject({ from: old.name, to: next.name, cause: 'death', durationMs: undefined });
    expect(third.history.get('web')!.since).toBe(third.history.get('web')!.lastFailover!.at);
    expect(third.measured).toEqual([]);
  });

  it('calls a graceful stop a handoff', async () => {
    const { sim, nodes, owner } = await cluster();
    const old = owner();
    let done = false;
    const stopping = old.speaker.stop().then(() => (done = true));
    for (let i = 0; i < 1000 && !done; i++) {
      sim.advance(1);
      await new Promise((r) => setImmediate(r));
    }
    await stopping;
    const next = nodes.find((n) => n !== old && n.announcer.owned.size > 0)!;
    expect(next.history.get('web')!.lastFailover).toMatchObject({ from: old.name, to: next.name, cause: 'handoff' });
    expect(next.measured.map((m) => m.cause)).toEqual(['handoff']);
    expect(next.history.takeovers.get('handoff')).toBe(1);
  });

  it('calls the owner losing carrier a link takeover', async () => {
    const { sim, owner } = await cluster();
    const old = owner();
    old.links.setCarrier('eth0', false);
    sim.advance(100);
    const next = owner();
    expect(next.history.get('web')!.lastFailover).toMatchObject({ from: old.name, to: next.name, cause: 'link' });
    expect(next.measured.map((m) => m.cause)).toEqual(['link']);
    // The old owner calls it the same, and measured nothing.
    expect(old.history.get('web')!.lastFailover).toMatchObject({ from: old.name, to: next.name, cause: 'link', durationMs: undefined });
    expect(old.measured).toEqual([]);
  });

  it('calls taking a service back after a yield a conflict takeover', async () => {
    const { sim, nodes, owner } = await cluster(2);
    const o = owner();
    const n2 = nodes.find((n) => n !== o)!;
    // n2 thinks it is the only candidate (a rolling config change), announces too, and sees o's announcement.
    n2.speaker.setDesired({ services: [{ ...WEB, nodes: [n2.name] }] });
    sim.advance(50);
    // FakeLinks' MAC of eth0 (index 2) on node i.
    const macOf = (n: typeof o) => Uint8Array.from([2, 0, 0, 0, nodes.indexOf(n) + 1, 2]);
    n2.announcer.conflict('192.0.2.200', macOf(o));
    o.announcer.conflict('192.0.2.200', macOf(n2));
    const yielder = [o, n2].find((n) => n.announcer.owned.size === 0)!;
    expect(yielder).toBeDefined();
    expect(yielder.history.takeovers.get('conflict')).toBe(0);
    sim.advance(10_100);
    // A yield ends at the next election after YIELD_MS.
    yielder.speaker.reconcile();
    sim.advance(10);
    expect(yielder.announcer.owned.size).toBeGreaterThan(0);
    expect(yielder.history.takeovers.get('conflict')).toBe(1);
    expect(yielder.measured.map((m) => m.cause)).toEqual(['conflict']);
  });

  it('forgets services no longer configured', () => {
    const h = new OwnershipHistory({ now: () => 0, setTimeout: () => ({ cancel() {} }) });
    h.changed([{ service: 'a', addresses: ['192.0.2.1'], from: undefined, to: 'n1', cause: 'election', at: 0, since: 0, takeover: true }]);
    expect(h.get('a')?.owner).toBe('n1');
    h.retain(new Set(['b']));
    expect(h.get('a')).toBeUndefined();
  });
});

describe('ownership history at scale', () => {
  it('takes a mass failover of 10 000 services and their first announcements in linear time', () => {
    let now = 0;
    const h = new OwnershipHistory({ now: () => now, setTimeout: () => ({ cancel() {} }) });
    const seen: number[] = [];
    h.onFailover((s) => seen.push(s));
    const ip = (i: number) => `10.${(i >> 8) & 255}.${i & 255}.1`;
    const started = performance.now();
    h.changed(Array.from({ length: 10_000 }, (_, i) => ({ service: `s${i}`, addresses: [ip(i), `2001:db8::${i.toString(16)}`], from: 'n1', to: 'n2', cause: 'death' as const, at: 0, since: 0, takeover: true })));
    now = 2;
    for (let i = 0; i < 10_000; i++) {
      h.firstGratuitous(ip(i));
      h.firstGratuitous(`2001:db8::${i.toString(16)}`);
    }
    // Quadratic bookkeeping would take minutes here; linear takes well under a second (5 s: a loaded machine).
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(seen).toHaveLength(10_000);
    expect(h.get('s9999')!.lastFailover!.durationMs).toBe(2);
    expect(h.takeovers.get('death')).toBe(10_000);
  });
});
