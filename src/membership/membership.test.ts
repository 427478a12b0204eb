import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { Clock, Timer } from '../clock/clock.js';
import { VirtualClock } from '../clock/virtual-clock.js';
import { electAll } from '../election/elect.js';
import { ConfigError } from '../errors.js';
import { silentLogger } from '../observability/logger.js';
import { MemoryNetwork } from '../../test/fakes/memory-transport.js';
import { MAX_INCARNATION, Membership, memberId, type MemberState } from './membership.js';
import { membershipKey } from './membership-key.js';
import { resolveMembershipOptions } from './membership-options.js';
import type { PeerTransport } from './peer-transport.js';
import { encodeMessage, type Message, type ViewEntry } from './wire.js';
import { seededRandom } from '../../test/helpers/seeded-random.js';
import { SIM_SECRET, SimCluster, simulateCrash, simulateLoss } from '../../test/fakes/sim-cluster.js';

function stateAt(c: SimCluster, observer: string, subject: string): MemberState | undefined {
  return c.node(observer).membership.view().members.get(subject)?.state;
}

function allSeeAll(c: SimCluster): boolean {
  return c.nodes.every((n) => n.membership.alive().size === c.nodes.length);
}

/** Advances virtual time in small steps, letting promise continuations (leave()) run in between. */
async function advanceAsync(c: SimCluster, ms: number, step = 1): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    c.advance(step);
    await new Promise((r) => setImmediate(r));
  }
}

describe('Membership: failure detection', () => {
  it.each([
    [3, false],
    [5, false],
    [3, true],
    [5, true],
  ])('declares a crashed node dead within the configured bound (%i nodes, polled %s, 40 seeds)', async (size, polled) => {
    const o = resolveMembershipOptions(size);
    for (let seed = 1; seed <= 40; seed++) {
      const { detectMs, othersAlive: others } = await simulateCrash({ size, seed, polled });
      expect(detectMs).toHaveLength(size - 1);
      expect(others).toBe(true);
      // Last evidence is at most one (jittered) heartbeat before the crash, and death is
      // checked on each tick: dead within deadMs +- one heartbeat, plus link delay. Polled
      // (the worker's transport): evidence is dated by arrival, so a node that buries on its
      // own is no later; one told by a burial broadcast (the ring, 5 nodes) reads it at its
      // next tick, up to one more heartbeat.
      const late = polled && size > 3 ? 1.1 * o.heartbeatMs : 0;
      for (const ms of detectMs) {
        expect(ms).toBeGreaterThanOrEqual(o.deadMs - 1.1 * o.heartbeatMs - 1);
        expect(ms).toBeLessThanOrEqual(o.deadMs + 1.1 * o.heartbeatMs + late + 1);
      }
    }
  });

  it('still detects a crash within the unconfirmed maximum at 20 % loss', async () => {
    const o = resolveMembershipOptions(3);
    for (let seed = 1; seed <= 10; seed++) {
      const { detectMs, othersAlive: others } = await simulateCrash({ size: 3, seed, loss: 0.2 });
      expect(others).toBe(true);
      for (const ms of detectMs) expect(ms).toBeLessThanOrEqual(o.deadMaxMs + 1.1 * o.heartbeatMs + 1);
    }
  });

  it('uses the unconfirmed maximum in a two-node cluster (nobody can confirm)', async () => {
    const o = resolveMembershipOptions(2);
    const { detectMs } = await simulateCrash({ size: 2, seed: 1 });
    expect(detectMs[0]).toBeGreaterThan(o.deadMaxMs - 1.1 * o.heartbeatMs - 1);
    expect(detectMs[0]).toBeLessThanOrEqual(o.deadMaxMs + 1.1 * o.heartbeatMs + 1);
  });

  it('gives peers the benefit of the doubt at start, then buries those never heard from', async () => {
    const c = new SimCluster({ size: 3, seed: 4 });
    await c.node('node-0').membership.start();
    await c.node('node-1').membership.start();
    expect(c.node('node-0').membership.alive().has('node-2')).toBe(true);
    c.advance(300);
    expect(stateAt(c, 'node-0', 'node-2')).toBe('dead');
    expect(stateAt(c, 'node-0', 'node-1')).toBe('alive');
    await c.node('node-2').membership.start();
    c.advance(10);
    expect(allSeeAll(c)).toBe(true);
  });
});

describe('Membership: suspicion and refutation', () => {
  it('a node that one peer cannot hear stays alive through the others, and refutes', async () => {
    const c = await SimCluster.start({ size: 3, seed: 2 });
    c.advance(200);
    const n0 = c.node('node-0');
    const inc0 = n0.membership.incarnation;
    const removed: string[] = [];
    c.node('node-1').membership.onChange((v) => {
      if (!v.alive.has('node-0')) removed.push('node-0');
    });
    c.network.block(n0.address, c.node('node-1').address);
    c.advance(70);
    expect(stateAt(c, 'node-1', 'node-0')).toBe('suspect');
    expect(n0.membership.incarnation).toBeGreaterThan(inc0);
    expect(n0.membership.stats().refutations).toBeGreaterThanOrEqual(1);
    c.advance(2000);
    expect(c.node('node-1').membership.alive().has('node-0')).toBe(true);
    expect(removed).toEqual([]);
    c.network.heal();
    c.advance(12);
    expect(stateAt(c, 'node-1', 'node-0')).toBe('alive');
    expect(c.node('node-1').membership.view().members.get('node-0')?.incarnation).toBe(n0.membership.incarnation);
  });

  it('a brief one-way loss makes a suspicion that is refuted, never a death', async () => {
    const c = await SimCluster.start({ size: 3, seed: 3 });
    c.advance(200);
    const a0 = c.node('node-0').address;
    c.network.block(a0, c.node('node-1').address);
    c.network.block(a0, c.node('node-2').address);
    c.advance(60); // > suspectMs, < deadMs
    expect(stateAt(c, 'node-1', 'node-0')).toBe('suspect');
    c.network.heal();
    c.advance(15);
    expect(stateAt(c, 'node-1', 'node-0')).toBe('alive');
    expect(c.nodes.reduce((n, x) => n + x.membership.stats().deaths, 0)).toBe(0);
    expect(c.node('node-0').membership.stats().refutations).toBeGreaterThanOrEqual(1);
  });
});

describe('Membership: leave, restart, partitions', () => {
  it('marks a leaving node left at its first leave datagram, and keeps it left', async () => {
    const c = await SimCluster.start({ size: 3, seed: 5 });
    c.advance(200);
    const leaving = c.node('node-2').membership.leave();
    c.advance(1);
    expect(stateAt(c, 'node-0', 'node-2')).toBe('left');
    expect(c.node('node-1').membership.alive().has('node-2')).toBe(false);
    await advanceAsync(c, 20);
    await leaving;
    c.advance(3000);
    expect(stateAt(c, 'node-0', 'node-2')).toBe('left');
    expect(c.node('node-0').membership.stats().deaths).toBe(0);
    await c.restart('node-2');
    c.advance(10);
    expect(allSeeAll(c)).toBe(true);
  });

  it('treats a leave as done even when some leave datagrams are lost', async () => {
    const c = await SimCluster.start({ size: 3, seed: 6, loss: 0.5 });
    c.advance(200);
    const leaving = c.node('node-2').membership.leave();
    await advanceAsync(c, 30);
    await leaving;
    c.advance(200);
    for (const o of ['node-0', 'node-1']) expect(['left', 'dead']).toContain(stateAt(c, o, 'node-2'));
  });

  it('accepts a restarted node with a newer incarnation at once', async () => {
    const c = await SimCluster.start({ size: 3, seed: 7 });
    c.advance(200);
    const old = c.node('node-0').membership.incarnation;
    c.crash('node-0');
    c.advance(300);
    expect(stateAt(c, 'node-1', 'node-0')).toBe('dead');
    const n0 = await c.restart('node-0');
    expect(n0.membership.incarnation).toBeGreaterThan(old);
    c.advance(3);
    expect(stateAt(c, 'node-1', 'node-0')).toBe('alive');
    expect(c.node('node-2').membership.view().members.get('node-0')?.incarnation).toBe(n0.membership.incarnation);
    expect(allSeeAll(c)).toBe(true);
  });

  it('recovers a restarted node whose clock went backwards (incarnation lower than before)', async () => {
    const c = await SimCluster.start({ size: 3, seed: 8 });
    c.advance(200);
    const old = c.node('node-0').membership.incarnation;
    c.crash('node-0');
    c.advance(300);
    const n0 = await c.restart('node-0', old - 60_000);
    c.advance(30);
    expect(n0.membership.incarnation).toBeGreaterThan(old);
    expect(allSeeAll(c)).toBe(true);
    expect(c.node('node-1').membership.stats().drops['too-old']).toBeGreaterThan(0);
  });

  it('partition: each side sees the other dead; after heal all are alive within one heartbeat and owners agree', async () => {
    const c = await SimCluster.start({ size: 3, seed: 9 });
    const o = c.node('node-0').membership.options;
    c.advance(200);
    const [a, b, d] = c.nodes.map((n) => n.address) as [string, string, string];
    c.network.partition([a], [b, d]);
    c.advance(400);
    expect(stateAt(c, 'node-0', 'node-1')).toBe('dead');
    expect(stateAt(c, 'node-0', 'node-2')).toBe('dead');
    expect(stateAt(c, 'node-1', 'node-0')).toBe('dead');
    expect(stateAt(c, 'node-1', 'node-2')).toBe('alive');
    c.network.heal();
    let healedAfter = 0;
    while (!allSeeAll(c) && healedAfter < o.deadMs) {
      c.advance(0.5);
      healedAfter += 0.5;
    }
    expect(healedAfter).toBeLessThanOrEqual(1.1 * o.heartbeatMs + 1);
    const items = Array.from({ length: 50 }, (_, i) => ({
      key: `svc-${i}`,
      ips: [`192.0.2.${i}`],
      candidates: c.nodes.map((n) => n.name),
    }));
    const owners = c.nodes.map((n) => electAll(items, n.membership.alive()));
    expect(owners[1]).toEqual(owners[0]);
    expect(owners[2]).toEqual(owners[0]);
  });
});

describe('Membership: authentication and replay', () => {
  it('drops datagrams under a wrong key, counted; that node is never heard from', async () => {
    const c = await SimCluster.start({
      size: 3,
      seed: 10,
      secretFor: (n) => (n === 'node-2' ? 'a different secret, also long enough!!' : SIM_SECRET),
    });
    c.advance(5000);
    const m0 = c.node('node-0').membership;
    expect(m0.stats().drops['unknown-key']).toBeGreaterThan(100);
    expect(m0.alive().has('node-2')).toBe(false);
    expect(m0.view().members.get('node-2')?.lastHeardMsAgo).toBeUndefined();
    expect(c.node('node-2').membership.alive().size).toBe(1);
  });

  it('drops replayed and too-old captured datagrams; replays do not keep a dead node alive', async () => {
    const c = await SimCluster.start({ size: 3, seed: 11 });
    const [a0, a1] = [c.node('node-0').address, c.node('node-1').address];
    const early: Uint8Array[] = [];
    const recent: Uint8Array[] = [];
    const off = c.network.sniff((from, to, d) => {
      if (from !== a0 || to !== a1) return;
      if (c.clock.now() < 100) early.push(d);
      else recent.push(d);
      if (recent.length > 20) recent.shift();
    });
    // Past the 1024-wide replay window at 10 ms heartbeats: the early datagrams are too old.
    c.advance(12_000);
    off();
    c.crash('node-0');
    let dead = -1;
    for (let t = 0; t < 400; t += 5) {
      for (const d of [...recent, ...early.slice(0, 5)]) c.network.inject(a0, a1, d);
      c.advance(5);
      if (dead < 0 && stateAt(c, 'node-1', 'node-0') === 'dead') dead = t;
    }
    const drops = c.node('node-1').membership.stats().drops;
    expect(drops.replay).toBeGreaterThan(100);
    expect(drops['too-old']).toBeGreaterThan(20);
    expect(dead).toBeGreaterThan(0);
    expect(dead).toBeLessThanOrEqual(c.node('node-1').membership.options.deadMaxMs);
  });

  it('drops tampered, reflected and unknown-sender datagrams', async () => {
    const c = await SimCluster.start({ size: 3, seed: 12 });
    const [a0, a1] = [c.node('node-0').address, c.node('node-1').address];
    let sample: Uint8Array | undefined;
    const off = c.network.sniff((from, to, d) => {
      if (from === a0 && to === a1) sample = d;
    });
    c.advance(50);
    off();
    const tampered = Uint8Array.from(sample!);
    tampered[tampered.length - 20]! ^= 1;
    c.network.inject(a0, a1, tampered);
    c.network.inject(a0, a0, sample!);
    const intruder = new Membership({
      self: 'node-9',
      peers: [...c.peers, { name: 'node-9', address: '10.0.0.99:7946' }],
      secret: SIM_SECRET,
      clock: c.clock,
      transport: c.network.transport('10.0.0.99:7946'),
      logger: silentLogger(),
    });
    await intruder.start();
    c.advance(20);
    await intruder.stop();
    expect(c.node('node-1').membership.stats().drops['bad-mac']).toBe(1);
    expect(c.node('node-0').membership.stats().drops.reflected).toBe(1);
    // The intruder has the key but sends from an address no peer has: dropped before the MAC.
    expect(c.node('node-1').membership.stats().drops['unknown-source']).toBeGreaterThan(0);
    expect(c.node('node-1').membership.alive().has('node-9')).toBe(false);
    // From a peer's address, an authenticated datagram of a name not in our list.
    forge(c, 'node-0', 'node-1', heartbeat('node-9', 1, 1, []));
    c.advance(1);
    expect(c.node('node-1').membership.stats().drops['unknown-sender']).toBe(1);
  });
});

describe('Membership: metadata', () => {
  it('reaches every peer within one heartbeat and fires onChange', async () => {
    const c = await SimCluster.start({ size: 3, seed: 13 });
    c.advance(200);
    const seen: unknown[] = [];
    c.node('node-1').membership.onChange((v) => seen.push(v.members.get('node-0')?.metadata));
    c.node('node-0').membership.setMetadata({ linksDown: ['eth0'] });
    c.advance(c.node('node-0').membership.options.heartbeatMs);
    for (const o of ['node-1', 'node-2']) {
      expect(c.node(o).membership.view().members.get('node-0')?.metadata).toEqual({ linksDown: ['eth0'] });
    }
    expect(seen).toEqual([{ linksDown: ['eth0'] }]);
  });

  it('reaches a peer through another member when the direct link is down, and at 20 % loss', async () => {
    const c = await SimCluster.start({ size: 3, seed: 14, loss: 0.2 });
    c.advance(200);
    c.network.block(c.node('node-0').address, c.node('node-1').address);
    c.node('node-0').membership.setMetadata({ draining: true });
    c.advance(100);
    expect(c.node('node-1').membership.view().members.get('node-0')?.metadata).toEqual({ draining: true });
    expect(c.node('node-2').membership.view().members.get('node-0')?.metadata).toEqual({ draining: true });
    c.node('node-0').membership.setMetadata({ draining: false });
    c.advance(100);
    expect(c.node('node-1').membership.view().members.get('node-0')?.metadata).toEqual({ draining: false });
  });

  it('is forgotten when the node restarts without it, and refused when too large', async () => {
    const c = await SimCluster.start({ size: 3, seed: 15 });
    c.advance(50);
    c.node('node-0').membership.setMetadata({ a: 1 });
    c.advance(50);
    expect(c.node('node-1').membership.view().members.get('node-0')?.metadata).toEqual({ a: 1 });
    c.crash('node-0');
    c.advance(10);
    await c.restart('node-0');
    c.advance(10);
    expect(c.node('node-1').membership.view().members.get('node-0')?.metadata).toBeUndefined();
    expect(() => c.node('node-0').membership.setMetadata({ big: 'x'.repeat(600) })).toThrow(RangeError);
  });
});

/** A clock whose timers cannot fire while "stalled" (a blocked event loop): they fire late, at the end. */
class StallableClock implements Clock {
  stalledUntil = -Infinity;
  constructor(private readonly inner: VirtualClock) {}
  now(): number {
    return this.inner.now();
  }
  setTimeout(fn: () => void, ms: number): Timer {
    let cancelled = false;
    let t: Timer;
    const run = (): void => {
      if (cancelled) return;
      if (this.inner.now() < this.stalledUntil) t = this.inner.setTimeout(run, this.stalledUntil - this.inner.now());
      else fn();
    };
    t = this.inner.setTimeout(run, ms);
    return {
      cancel: () => {
        cancelled = true;
        t.cancel();
      },
    };
  }
}

describe('Membership: local health', () => {
  it('does not bury its peers after its own event loop stalled', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, seed: 1 });
    const names = ['node-0', 'node-1', 'node-2'];
    const peers = names.map((name, i) => ({ name, address: `10.0.0.${i + 1}:7946` }));
    const stallable = new StallableClock(clock);
    const queued: [Uint8Array, string][] = [];
    const members = names.map((name, i) => {
      const inner = net.transport(peers[i]!.address);
      // node-1's datagrams queue up while it is stalled, and are read after its timers ran.
      const transport: PeerTransport =
        i !== 1
          ? inner
          : {
              start: () => inner.start(),
              stop: () => inner.stop(),
              send: (a, d) => inner.send(a, d),
              onMessage: (h) =>
                inner.onMessage((d, from) => {
                  if (clock.now() < stallable.stalledUntil) {
                    if (queued.length === 0) clock.setTimeout(() => queued.splice(0).forEach(([qd, qf]) => h(qd, qf)), stallable.stalledUntil - clock.now() + 0.01);
                    queued.push([d, from]);
                  } else h(d, from);
                }),
            };
      return new Membership({
        self: name,
        peers,
        secret: SIM_SECRET,
        clock: i === 1 ? stallable : clock,
        transport,
        logger: silentLogger(),
        rng: seededRandom(i + 1),
        incarnation: 1000,
      });
    });
    for (const m of members) await m.start();
    clock.advance(200);
    stallable.stalledUntil = clock.now() + 300;
    clock.advance(400);
    const m1 = members[1]!;
    expect(m1.stats().stalls).toBeGreaterThanOrEqual(1);
    expect(m1.stats().deaths).toBe(0);
    expect(m1.alive().size).toBe(3);
  });
});

describe('Membership: configuration', () => {
  const base = {
    self: 'a',
    peers: [
      { name: 'a', address: 'a:1' },
      { name: 'b', address: 'b:1' },
    ],
    secret: SIM_SECRET,
    clock: new VirtualClock(),
    logger: silentLogger(),
    transport: new MemoryNetwork({ clock: new VirtualClock() }).transport('a:1'),
  };

  it('picks defaults by cluster size', () => {
    for (const n of [3, 10, 40, 1000]) {
      expect(resolveMembershipOptions(n)).toMatchObject({ topology: 'ring', watchers: 2, heartbeatMs: 10, suspectMs: 50, deadMs: 80, deadMaxMs: 120, probeMs: 200 });
    }
    // The former full mesh, kept for comparison (bench:scale): slower heartbeats past 16 nodes.
    expect(resolveMembershipOptions(10, { topology: 'mesh' })).toMatchObject({ heartbeatMs: 10, suspectMs: 50, deadMs: 80, deadMaxMs: 120 });
    expect(resolveMembershipOptions(40, { topology: 'mesh' })).toMatchObject({ heartbeatMs: 20, suspectMs: 60, deadMs: 100, deadMaxMs: 150 });
  });

  it('rejects inconsistent timings, short secrets and duplicate names with ConfigError', () => {
    expect(() => resolveMembershipOptions(3, { suspectMs: 5 })).toThrow(ConfigError);
    expect(() => resolveMembershipOptions(3, { deadMs: 40 })).toThrow(/membership\.options\.deadMs/);
    expect(() => resolveMembershipOptions(3, { watchers: 3 })).toThrow(/membership\.options\.watchers/);
    expect(() => resolveMembershipOptions(3, { probeMs: 5 })).toThrow(/membership\.options\.probeMs/);
    expect(() => new Membership({ ...base, secret: 'short' })).toThrow(ConfigError);
    expect(() => new Membership({ ...base, previousSecrets: ['short'] })).toThrow(/previousSecrets\[0\]/);
    expect(() => new Membership({ ...base, peers: [...base.peers, { name: 'b', address: 'c:1' }] })).toThrow(/listed twice/);
  });
});

/** A datagram made by a key holder (an insider, or a buggy build), sent to `to` as if from `from`. */
function forge(c: SimCluster, from: string, to: string, message: Message): void {
  c.network.inject(c.node(from).address, c.node(to).address, encodeMessage(message, membershipKey(SIM_SECRET)));
}

function heartbeat(sender: string, incarnation: number, seq: number, entries: readonly ViewEntry[], receiver = 'node-1'): Message {
  return { type: 'heartbeat', sender, receiver: memberId(receiver), incarnation, seq, timestamp: 0, metaVersion: 0, ages: [], entries, blobs: [] };
}

describe('Membership: hostile datagrams from a key holder', () => {
  it('drops an absurd incarnation about the receiver (counted), instead of overflowing its own and crashing', async () => {
    const c = await SimCluster.start({ size: 3, seed: 16 });
    c.advance(100);
    const n1 = c.node('node-1').membership;
    const before = n1.incarnation;
    const inc0 = c.node('node-0').membership.incarnation;
    forge(c, 'node-0', 'node-1', heartbeat('node-0', inc0, 1e9, [{ id: memberId('node-1'), state: 'suspect', incarnation: Number.MAX_SAFE_INTEGER, metaVersion: 0, want: false }]));
    expect(() => c.advance(50)).not.toThrow();
    expect(n1.stats().drops['bad-incarnation']).toBe(1);
    expect(n1.incarnation).toBe(before);
    expect(n1.stats().refutations).toBe(0);
    c.advance(500);
    expect(allSeeAll(c)).toBe(true);
  });

  it('drops an absurd sender incarnation, and an incarnation just above the bound, without moving the replay window', async () => {
    const c = await SimCluster.start({ size: 3, seed: 17 });
    c.advance(100);
    forge(c, 'node-0', 'node-1', heartbeat('node-0', Number.MAX_SAFE_INTEGER, 1, []));
    forge(c, 'node-0', 'node-1', heartbeat('node-0', MAX_INCARNATION + 1, 1, []));
    expect(() => c.advance(50)).not.toThrow();
    const n1 = c.node('node-1').membership;
    expect(n1.stats().drops['bad-incarnation']).toBe(2);
    expect(n1.view().members.get('node-0')?.incarnation).toBe(c.node('node-0').membership.incarnation);
    c.advance(500);
    expect(allSeeAll(c)).toBe(true);
  });

  it('never lets an exception out of the receive path: a throwing step is a counted drop', async () => {
    const c = await SimCluster.start({ size: 3, seed: 18 });
    c.advance(100);
    const n1 = c.node('node-1').membership;
    // A peer whose every datagram makes the handler throw (here: a metadata handler bug).
    const off = n1.onChange(() => {
      throw new Error('handler bug');
    });
    c.node('node-0').membership.setMetadata({ x: 1 });
    expect(() => c.advance(50)).not.toThrow();
    off();
    // And the receive path itself: an impossible input to the transport handler.
    const t = c.node('node-1').transport;
    expect(() => t.deliver(undefined as unknown as Uint8Array, c.node('node-0').address, c.clock.now())).not.toThrow();
    expect(n1.stats().drops['internal-error']).toBe(1);
  });
});

describe('Membership: replay to another receiver', () => {
  it('drops datagrams addressed to another node (counted); replaying them after a crash does not keep the sender alive', async () => {
    const c = await SimCluster.start({ size: 3, seed: 19 });
    const [a0, a1, a2] = [c.node('node-0').address, c.node('node-1').address, c.node('node-2').address];
    const toC: Uint8Array[] = [];
    const off = c.network.sniff((from, to, d) => {
      if (from === a0 && to === a2) toC.push(d);
    });
    c.advance(2000);
    off();
    c.crash('node-0');
    // Replay what node-0 sent to node-2, in order, to node-1: no key needed.
    const replayed = toC.slice(-200);
    let dead = -1;
    for (let t = 0; t < 1000; t += 5) {
      const d = replayed.shift();
      if (d !== undefined) c.network.inject(a0, a1, d);
      c.advance(5);
      if (dead < 0 && stateAt(c, 'node-1', 'node-0') === 'dead') dead = t;
    }
    expect(dead).toBeGreaterThan(0);
    expect(dead).toBeLessThanOrEqual(c.node('node-1').membership.options.deadMaxMs);
    expect(c.node('node-1').membership.stats().drops['wrong-receiver']).toBeGreaterThan(100);
  });
});

describe('Membership: wire versions', () => {
  it('drops datagrams of another wire version, counted, with one warning per peer and episode', async () => {
    const lines: { msg: string; node?: string; from?: string; version?: number }[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s) as (typeof lines)[number]) });
    const c = await SimCluster.start({ size: 3, seed: 20, logger });
    const [a0, a1] = [c.node('node-0').address, c.node('node-1').address];
    c.advance(100);
    // What node-0 would send if it still ran the previous release (version 1).
    const v1 = new Uint8Array([0x4c, 0x56, 1, 1, 0, 0, 0, 1, 6, ...new TextEncoder().encode('node-0'), ...new Uint8Array(60)]);
    const warnings = (): number => lines.filter((l) => l.node === 'node-1' && l.msg.includes('another wire version')).length;
    const episode = (): void => {
      c.network.block(a0, a1);
      for (let i = 0; i < 50; i++) {
        c.network.inject(a0, a1, v1);
        c.advance(1);
      }
      c.network.unblock(a0, a1);
      c.advance(20);
    };
    episode();
    expect(c.node('node-1').membership.stats().drops['wrong-version']).toBe(50);
    expect(warnings()).toBe(1);
    expect(lines.find((l) => l.node === 'node-1' && l.msg.includes('another wire version'))).toMatchObject({ from: a0, version: 1 });
    episode();
    expect(c.node('node-1').membership.stats().drops['wrong-version']).toBe(100);
    expect(warnings()).toBe(2);
  });
});

const OLD = 'the old cluster secret, 32 bytes or more';
const NEW = 'the new cluster secret, 32 bytes or more';

describe('Membership: key rotation and cheap checks', () => {
  it('verifies with previous secrets but sends only with the current one, and counts which key verified', async () => {
    // Mid-rotation: node-0 still sends under OLD (NEW added as previous), the others already swapped.
    const c = await SimCluster.start({
      size: 3,
      seed: 21,
      secretFor: (n) => (n === 'node-0' ? OLD : NEW),
      previousSecretsFor: (n) => (n === 'node-0' ? [NEW] : [OLD]),
    });
    const keyIds = new Set<number>();
    c.network.sniff((from, _to, d) => {
      if (from === c.node('node-0').address) keyIds.add(Buffer.from(d).readUInt32BE(4));
    });
    c.advance(1000);
    expect(allSeeAll(c)).toBe(true);
    expect([...keyIds]).toEqual([membershipKey(OLD).id]);
    const s0 = c.node('node-0').membership.stats();
    const s1 = c.node('node-1').membership.stats();
    expect(s0.verified.previous).toBeGreaterThan(100); // from node-1 and node-2 (NEW)
    expect(s0.verified.current).toBe(0);
    expect(s1.verified.previous).toBeGreaterThan(50); // from node-0 (OLD)
    expect(s1.verified.current).toBeGreaterThan(50); // from node-2 (NEW)
    expect(s1.drops['unknown-key'] + s1.drops['bad-mac']).toBe(0);
  });

  it('rotates at runtime with setSecrets, one node at a time, without anyone losing anyone', async () => {
    const c = await SimCluster.start({ size: 3, seed: 22, secretFor: () => OLD });
    let changes = 0;
    for (const n of c.nodes) n.membership.onChange(() => changes++);
    c.advance(200);
    for (const n of c.nodes) {
      n.membership.setSecrets(OLD, [NEW]);
      c.advance(50);
    }
    for (const n of c.nodes) {
      n.membership.setSecrets(NEW, [OLD]);
      c.advance(50);
    }
    for (const n of c.nodes) {
      n.membership.setSecrets(NEW);
      c.advance(50);
    }
    c.advance(200);
    expect(changes).toBe(0);
    expect(allSeeAll(c)).toBe(true);
    expect(c.nodes.every((n) => n.membership.stats().drops['unknown-key'] === 0)).toBe(true);
    expect(() => c.node('node-0').membership.setSecrets(NEW, ['short'])).toThrow(/previousSecrets\[0\]/);
  });

  it('drops datagrams from unknown source addresses and oversized ones before the MAC, counted', async () => {
    const c = await SimCluster.start({ size: 3, seed: 23 });
    c.advance(50);
    const n1 = c.node('node-1');
    const noise = new Uint8Array(100).fill(7);
    c.network.inject('10.0.0.99:7946', n1.address, noise);
    c.network.inject('10.0.0.1:9999', n1.address, noise); // a peer's host, another port: not refused here
    c.network.inject(c.node('node-0').address, n1.address, new Uint8Array(70_000));
    c.advance(1);
    const drops = n1.membership.stats().drops;
    expect(drops['unknown-source']).toBe(1);
    expect(drops.oversize).toBe(1);
    expect(drops.malformed).toBe(1);
  });

  it('recognises an IPv6 peer however its address is written in the config', async () => {
    // The UDP transport reports sources canonically ([2001:db8::1]:7946); the config is not.
    const peers = [
      { name: 'a', address: '[2001:DB8:0:0::1]:7946' },
      { name: 'b', address: '[2001:db8::2]:7946' },
    ];
    let deliver: (d: Uint8Array, from: string) => void = () => undefined;
    const transport: PeerTransport = {
      start: () => Promise.resolve(),
      stop: () => Promise.resolve(),
      send: () => undefined,
      onMessage: (h) => (deliver = h),
    };
    const b = new Membership({ self: 'b', peers, secret: SIM_SECRET, clock: new VirtualClock(), transport, logger: silentLogger(), incarnation: 1 });
    await b.start();
    const key = membershipKey(SIM_SECRET);
    deliver(encodeMessage(heartbeat('a', 1, 1, [], 'b'), key), '[2001:db8::1]:7946');
    expect(b.stats().accepted).toBe(1);
    deliver(encodeMessage(heartbeat('a', 1, 2, [], 'b'), key), '[2001:db8::3]:7946');
    expect(b.stats().drops['unknown-source']).toBe(1);
    await b.stop();
  });

  it('with a polled transport, reads once per tick and dates evidence by arrival, not by the tick that read it', async () => {
    const peers = [
      { name: 'a', address: '10.0.0.1:7946' },
      { name: 'b', address: '10.0.0.2:7946' },
    ];
    const clock = new VirtualClock();
    const key = membershipKey(SIM_SECRET);
    let deliver: (d: Uint8Array, from: string, at?: number) => void = () => undefined;
    let polls = 0;
    let queued: { data: Uint8Array; at: number }[] = [];
    const transport: PeerTransport = {
      start: () => Promise.resolve(),
      stop: () => Promise.resolve(),
      send: () => undefined,
      onMessage: (h) => (deliver = h),
      poll: () => {
        polls++;
        for (const q of queued) deliver(q.data, '10.0.0.1:7946', q.at);
        queued = [];
      },
    };
    const b = new Membership({ self: 'b', peers, secret: SIM_SECRET, clock, transport, logger: silentLogger(), incarnation: 1, options: { jitter: 0 } });
    await b.start();
    clock.advance(1000);
    expect(polls).toBeGreaterThanOrEqual(99);
    expect(polls).toBeLessThanOrEqual(101);
    // Arrived 40 ms ago, read now: a's last sign of life is 40 ms old (a tick that ignored the
    // arrival time would call it fresh).
    queued.push({ data: encodeMessage(heartbeat('a', 5, 1, [], 'b'), key), at: clock.now() - 40 });
    clock.advance(10);
    expect(b.stats().accepted).toBe(1);
    const heard = b.view().members.get('a')?.lastHeardMsAgo;
    expect(heard).toBeGreaterThanOrEqual(40);
    expect(heard).toBeLessThanOrEqual(51);
    // A datagram dated earlier than what we already heard (reordering, a stepped clock) moves
    // nothing back: neither the evidence nor the direct silence that suspicion counts.
    queued.push({ data: encodeMessage(heartbeat('a', 5, 2, [], 'b'), key), at: clock.now() });
    clock.advance(10);
    queued.push({ data: encodeMessage(heartbeat('a', 5, 3, [], 'b'), key), at: clock.now() - 500 });
    clock.advance(10);
    expect(b.stats().accepted).toBe(3);
    expect(b.view().members.get('a')?.lastHeardMsAgo).toBeLessThanOrEqual(21);
    expect(b.view().members.get('a')?.state).toBe('alive');
    await b.stop();
  });
});

describe('Membership: setPeers (peers that change at runtime)', () => {
  function cluster(engine = false) {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, seed: 3, engine });
    const addr = { a: '10.0.0.1:7946', b: '10.0.0.2:7946', c: '10.0.0.3:7946', c2: '10.0.0.33:7946' };
    const all = [
      { name: 'a', address: addr.a },
      { name: 'b', address: addr.b },
      { name: 'c', address: addr.c },
    ];
    const mk = (self: string, address: string, peers: { name: string; address: string }[], incarnation = 1000): Membership =>
      new Membership({ self, peers, secret: SIM_SECRET, clock, transport: net.transport(address), logger: silentLogger(), rng: seededRandom(self.length + incarnation), incarnation });
    return { clock, net, addr, all, mk };
  }

  it('adds a peer (probed at once, live once heard), removes one (handlers told), and never resets self', async () => {
    const { clock, net, addr, all, mk } = cluster();
    const a = mk('a', addr.a, all.slice(0, 2));
    const b = mk('b', addr.b, all);
    const c = mk('c', addr.c, all);
    for (const m of [a, b, c]) await m.start();
    clock.advance(200);
    expect([...a.alive()].sort()).toEqual(['a', 'b']);
    expect(a.stats().drops['unknown-source']).toBeGreaterThan(0); // c's datagrams, before a knows c
    const views: string[][] = [];
    a.onChange((v) => views.push([...v.alive].sort()));
    const inc = a.incarnation;

    const toC: number[] = [];
    const off = net.sniff((from, to) => {
      if (from === addr.a && to === addr.c) toC.push(clock.now());
    });
    const t0 = clock.now();
    a.setPeers(all);
    // Not counted live before it is heard (no VIP may move to a node that is not running yet).
    expect(a.alive().has('c')).toBe(false);
    expect(a.view().members.get('c')).toMatchObject({ state: 'dead', lastHeardMsAgo: undefined });
    expect(toC[0]).toBe(t0); // probed at once, not at the next tick
    clock.advance(a.options.heartbeatMs + 1);
    off();
    expect([...a.alive()].sort()).toEqual(['a', 'b', 'c']);
    // Told of the new member at once (as dead, never heard), then of it coming alive.
    expect(views).toEqual([
      ['a', 'b'],
      ['a', 'b', 'c'],
    ]);

    a.setPeers([all[0]!, all[2]!]); // b goes away
    expect(views.at(-1)).toEqual(['a', 'c']);
    expect(a.view().members.has('b')).toBe(false);
    clock.advance(500);
    expect([...a.alive()].sort()).toEqual(['a', 'c']);
    expect(a.stats().deaths).toBe(0);
    expect(a.incarnation).toBe(inc);
    expect(a.stats().refutations).toBe(0);
    expect(a.view().members.get('a')).toMatchObject({ self: true, state: 'alive', incarnation: inc });
  });

  it('follows a peer to a new address', async () => {
    const { clock, net, addr, all, mk } = cluster();
    const a = mk('a', addr.a, all);
    const b = mk('b', addr.b, all);
    let c = mk('c', addr.c, all);
    for (const m of [a, b, c]) await m.start();
    clock.advance(200);
    // c is rescheduled elsewhere (a new pod: new address, new incarnation).
    await c.stop();
    const moved = [all[0]!, all[1]!, { name: 'c', address: addr.c2 }];
    c = mk('c', addr.c2, moved, 2000);
    await c.start();
    a.setPeers(moved);
    b.setPeers(moved);
    const sent: string[] = [];
    net.sniff((from, to) => {
      if (from === addr.a) sent.push(to);
    });
    clock.advance(50);
    expect(a.view().members.get('c')).toMatchObject({ address: addr.c2, state: 'alive', incarnation: 2000 });
    expect(sent).toContain(addr.c2);
    expect(sent).not.toContain(addr.c);
    expect(c.alive().size).toBe(3);
  });

  it.each([false, true])('a peer removed and added back still hears us (our numbering continues) and keeps its replay window (beat engine %s)', async (engine) => {
    const { clock, all, addr, mk, net } = cluster(engine);
    const a = mk('a', addr.a, all);
    const b = mk('b', addr.b, all);
    const c = mk('c', addr.c, all);
    for (const m of [a, b, c]) await m.start();
    const captured: Uint8Array[] = [];
    const off = net.sniff((from, to, d) => {
      if (from === addr.b && to === addr.a) captured.push(d);
    });
    clock.advance(300);
    off();
    a.setPeers([all[0]!, all[2]!]);
    clock.advance(20);
    const refusedAtB = (): number => b.stats().drops['too-old'] + b.stats().drops.replay;
    const refusedBefore = refusedAtB();
    a.setPeers(all);
    for (const d of captured.slice(-20)) net.inject(addr.b, addr.a, d);
    clock.advance(50);
    expect(refusedAtB()).toBe(refusedBefore);
    expect(b.view().members.get('a')?.lastHeardMsAgo).toBeLessThan(10);
    expect(a.alive().has('b')).toBe(true);
    // Replayed beats are older than the newest one: too-old; a replayed full heartbeat: replay.
    expect(a.stats().drops.replay + a.stats().drops['too-old']).toBeGreaterThanOrEqual(20);
  });

  it('rejects a duplicate name without changing anything', () => {
    const { addr, all, mk } = cluster();
    const a = mk('a', addr.a, all);
    expect(() => a.setPeers([...all, { name: 'b', address: '10.0.0.9:7946' }])).toThrow(/listed twice/);
    expect([...a.view().members.keys()].sort()).toEqual(['a', 'b', 'c']);
  });
});

describe('Membership: onChange handlers that publish', () => {
  it('a handler that calls setMetadata (remembering it only once that returns) does not recurse', async () => {
    const c = await SimCluster.start({ size: 3, seed: 31 });
    c.advance(100);
    const m = c.node('node-0').membership;
    let last = '';
    let calls = 0;
    let state = 1;
    m.onChange(() => {
      calls++;
      const meta = { state };
      const text = JSON.stringify(meta);
      if (text === last) return;
      m.setMetadata(meta); // emits again before `last` is updated: must not nest without bound
      last = text;
    });
    m.setMetadata({ state: 0 });
    state = 2;
    m.setMetadata({ state: 0 });
    c.advance(50);
    expect(calls).toBeLessThan(10);
    expect(c.node('node-1').membership.view().members.get('node-0')?.metadata).toEqual({ state: 2 });
  });
});

describe('Membership: beats (wire type 4) between full heartbeats', () => {
  /** Wire type byte of each datagram `from` sends `to` while `ms` pass. */
  function typesSent(c: SimCluster, from: string, to: string, ms: number): number[] {
    const [a, b] = [c.node(from).address, c.node(to).address];
    const types: number[] = [];
    const off = c.network.sniff((f, t, d) => {
      if (f === a && t === b) types.push(d[3]!);
    });
    c.advance(ms);
    off();
    return types;
  }

  it('idle, a neighbour gets beats and a full heartbeat every fullHeartbeatMs (mesh of 3 and ring of 8)', async () => {
    for (const size of [3, 8]) {
      const c = await SimCluster.start({ size, seed: 31, polled: true });
      c.advance(1_000); // the start's news (every member changed) has been gossiped
      const o = c.node('node-0').membership.options;
      const neighbour = size === 3 ? 'node-1' : [...c.nodes.keys()].map((i) => `node-${i}`).find((n) => n !== 'node-0' && typesSent(c, 'node-0', n, 50).length >= 4)!;
      const types = typesSent(c, 'node-0', neighbour, 2_000);
      const beats = types.filter((t) => t === 4).length;
      const full = types.filter((t) => t === 1).length;
      // ~200 datagrams in 2 s at 10 ms: about 20 full (one per 100 ms), the rest beats.
      expect(types.length).toBeGreaterThan((2_000 / o.heartbeatMs) * 0.85);
      expect(full).toBeGreaterThanOrEqual(Math.floor(2_000 / (o.fullHeartbeatMs + 2 * o.heartbeatMs)));
      expect(full).toBeLessThanOrEqual(Math.ceil(2_000 / o.fullHeartbeatMs) + 2);
      expect(beats).toBeGreaterThan(types.length * 0.8);
      expect(allSeeAll(c)).toBe(true);
    }
  });

  it('fullHeartbeatMs = heartbeatMs: every heartbeat is full, as before wire version 4', async () => {
    const c = await SimCluster.start({ size: 3, seed: 32, polled: true, options: { fullHeartbeatMs: 10 } });
    c.advance(500);
    const types = typesSent(c, 'node-0', 'node-1', 500);
    expect(types.length).toBeGreaterThan(40);
    expect(types.filter((t) => t === 4)).toEqual([]);
  });

  it('news goes out in full heartbeats at once: a metadata change is seen by every peer within two heartbeats', async () => {
    const c = await SimCluster.start({ size: 3, seed: 33, polled: true, options: { fullHeartbeatMs: 1_000 } });
    c.advance(2_000);
    c.node('node-0').membership.setMetadata({ draining: true });
    const types = typesSent(c, 'node-0', 'node-1', 60);
    expect(types.slice(0, 4).every((t) => t === 1)).toBe(true);
    for (const peer of ['node-1', 'node-2']) expect(c.node(peer).membership.view().members.get('node-0')?.metadata).toEqual({ draining: true });
  });

  it.each([false, true])('a suspicion is answered with ages at once: one lossy link costs no death even when full heartbeats are 1 s apart (beat engine %s)', async (engine) => {
    // node-0 stops hearing node-2 (that link only); node-1 hears both. Without node-1's ages at
    // every tick (its answer to node-0's "node-2: suspect"), node-0 would bury node-2 at deadMaxMs;
    // with the engine, an answer whose ages predate the engine's latest beats would confirm it.
    const c = await SimCluster.start({ size: 3, seed: 34, polled: true, engine, options: { fullHeartbeatMs: 1_000 } });
    c.advance(2_000);
    c.network.block(c.node('node-2').address, c.node('node-0').address);
    let deaths = 0;
    for (let t = 0; t < 3_000; t += 5) {
      c.advance(5);
      if (stateAt(c, 'node-0', 'node-2') === 'dead') deaths++;
    }
    expect(stateAt(c, 'node-0', 'node-2')).toBe('suspect');
    expect(deaths).toBe(0);
    expect(c.node('node-0').membership.alive().has('node-2')).toBe(true);
  });

  it('a crash is detected as fast with beats as with full heartbeats (3 nodes, 20 seeds)', async () => {
    const o = resolveMembershipOptions(3);
    for (let seed = 1; seed <= 20; seed++) {
      const { detectMs } = await simulateCrash({ size: 3, seed, polled: true, options: { fullHeartbeatMs: 1_000 } });
      for (const ms of detectMs) expect(ms).toBeLessThanOrEqual(o.deadMs + 1.1 * o.heartbeatMs + 1);
    }
  });
});

describe('Membership: with the beat engine (the addon\'s thread, modelled on the virtual clock)', () => {
  it('idle, our own ticks are about fullHeartbeatMs apart while the engine beats every heartbeat (3 nodes, ring of 8)', async () => {
    for (const size of [3, 8]) {
      const c = await SimCluster.start({ size, seed: 41, engine: true });
      c.advance(1_000);
      const before = c.nodes.map((n) => n.membership.stats());
      const sent = c.network.stats.sent;
      c.advance(2_000);
      for (const [i, n] of c.nodes.entries()) {
        const s = n.membership.stats();
        expect(s.beats).toMatchObject({ engine: true });
        // About 10 own ticks a second instead of 100 (plus wakeups for the peers' full heartbeats).
        expect((s.ticks! - before[i]!.ticks!) / 2).toBeLessThan(35);
        expect(s.deaths).toBe(before[i]!.deaths);
      }
      // The wire carries as much as without the engine: a beat per neighbour every heartbeat.
      const perNode = (c.network.stats.sent - sent) / 2 / size;
      expect(perNode).toBeGreaterThan(size === 3 ? 190 : 190);
      expect(allSeeAll(c)).toBe(true);
    }
  });

  it.each([3, 5])('declares a crashed node dead within the configured bound (%i nodes, 40 seeds)', async (size) => {
    const o = resolveMembershipOptions(size);
    for (let seed = 1; seed <= 40; seed++) {
      const { detectMs, othersAlive } = await simulateCrash({ size, seed, engine: true });
      expect(detectMs).toHaveLength(size - 1);
      expect(othersAlive).toBe(true);
      // As polled (the engine reads the socket once per period); a watched silence wakes us within
      // one more. Earlier by up to 1.2 more periods: a full heartbeat stands in for the engine's
      // beats for 1.2 periods, so the victim's last datagram may be 2.2 periods before its crash.
      const late = size > 3 ? 1.1 * o.heartbeatMs : 0;
      for (const ms of detectMs) {
        expect(ms).toBeGreaterThanOrEqual(o.deadMs - 2.2 * o.heartbeatMs - 1);
        expect(ms).toBeLessThanOrEqual(o.deadMs + 2.2 * o.heartbeatMs + late + 1);
      }
    }
  });

  it('no false death at 20 % loss on every link for 60 s (3 nodes, 2 seeds)', async () => {
    for (const seed of [1, 2]) {
      const r = await simulateLoss({ size: 3, seed, engine: true, loss: 0.2, durationMs: 60_000 });
      expect(r.deaths).toBe(0);
      expect(r.allAlive).toBe(true);
    }
  });

  it('an out-of-turn send (metadata) right after a tick still reaches every peer in the mesh', async () => {
    const c = await SimCluster.start({ size: 3, seed: 43, engine: true });
    c.advance(2_000);
    const n0 = c.node('node-0');
    // Step until node-0 has just ticked, then hurry it into fast ticks and let one pass.
    n0.membership.setMetadata({ step: 1 });
    c.advance(200);
    const ticks = n0.membership.stats().ticks!;
    while (n0.membership.stats().ticks === ticks) c.advance(0.1);
    const sentTo = new Set<string>();
    const off = c.network.sniff((from, to, d) => {
      if (from === n0.address && d[3] === 1) sentTo.add(to);
    });
    n0.membership.setMetadata({ step: 2 });
    off();
    expect(sentTo.size).toBe(2);
  });

  it('a restarted node (new incarnation) is heard again: its beats are queued until its incarnation is known, then taken by the engine', async () => {
    const c = await SimCluster.start({ size: 3, seed: 42, engine: true });
    c.advance(500);
    await c.restart('node-2', c.wallClock() + 5);
    c.advance(500);
    expect(allSeeAll(c)).toBe(true);
    const s0 = c.node('node-0').membership.stats().beats!.accepted;
    c.advance(500);
    expect(c.node('node-0').membership.stats().beats!.accepted - s0).toBeGreaterThan(60);
  });
});
