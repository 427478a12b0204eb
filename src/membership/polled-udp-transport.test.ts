import { describe, expect, it } from 'vitest';
import { systemClock } from '../clock/system-clock.js';
import { VirtualClock } from '../clock/virtual-clock.js';
import type { NativeAddon } from '../netdev/native.js';
import { silentLogger } from '../observability/logger.js';
import { Membership } from './membership.js';
import { PolledUdpTransport } from './polled-udp-transport.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function pair(o: { maxPerPoll?: number } = {}): Promise<{ a: PolledUdpTransport; b: PolledUdpTransport; close: () => Promise<void> }> {
  const a = new PolledUdpTransport({ bind: '127.0.0.1:0', clock: systemClock });
  const b = new PolledUdpTransport({ bind: '127.0.0.1:0', clock: systemClock, ...o });
  await a.start();
  await b.start();
  return {
    a,
    b,
    close: async () => {
      await a.stop();
      await b.stop();
    },
  };
}

describe('PolledUdpTransport', () => {
  it('delivers nothing on its own: datagrams wait in the kernel until poll(), then come in order', async () => {
    const { a, b, close } = await pair();
    try {
      const got: number[] = [];
      b.onMessage((d) => got.push(d[0]!));
      for (let i = 0; i < 5; i++) a.send(b.address(), new Uint8Array([i]));
      await sleep(50);
      expect(got).toEqual([]);
      b.poll();
      expect(got).toEqual([0, 1, 2, 3, 4]);
      b.poll();
      expect(got).toHaveLength(5);
    } finally {
      await close();
    }
  });

  it('dates each datagram by its arrival (the kernel timestamp), not by the poll that read it', async () => {
    const { a, b, close } = await pair();
    try {
      const at: number[] = [];
      b.onMessage((_d, _from, t) => at.push(t ?? NaN));
      const sentAt = systemClock.now();
      a.send(b.address(), new Uint8Array([1]));
      await sleep(120);
      const polledAt = systemClock.now();
      b.poll();
      expect(at).toHaveLength(1);
      expect(Math.abs(at[0]! - sentAt)).toBeLessThan(25);
      expect(polledAt - at[0]!).toBeGreaterThan(90);
    } finally {
      await close();
    }
  });

  it('reads at most maxPerPoll datagrams per poll (a flood costs a bounded tick); the rest waits', async () => {
    const { a, b, close } = await pair({ maxPerPoll: 20 });
    try {
      let n = 0;
      b.onMessage(() => n++);
      for (let i = 0; i < 50; i++) a.send(b.address(), new Uint8Array([i]));
      await sleep(50);
      b.poll();
      expect(n).toBe(20);
      b.poll();
      b.poll();
      expect(n).toBe(50);
    } finally {
      await close();
    }
  });

  it('delivers a datagram of any size whole (the membership drops oversized ones, counted)', async () => {
    const { a, b, close } = await pair();
    try {
      const sizes: number[] = [];
      b.onMessage((d) => sizes.push(d.length));
      a.send(b.address(), new Uint8Array(60_000).fill(7));
      await sleep(50);
      b.poll();
      expect(sizes).toEqual([60_000]);
    } finally {
      await close();
    }
  });

  it('stops delivering within a batch once the handler stops the transport', async () => {
    const { a, b, close } = await pair();
    try {
      let n = 0;
      b.onMessage(() => {
        n++;
        void b.stop();
      });
      for (let i = 0; i < 3; i++) a.send(b.address(), new Uint8Array([i]));
      await sleep(50);
      b.poll();
      expect(n).toBe(1);
    } finally {
      await close();
    }
  });

  it('rejects start() with the bind error, shaped like Node errors', async () => {
    const { a, close } = await pair();
    try {
      const port = a.address().split(':')[1];
      const c = new PolledUdpTransport({ bind: `127.0.0.1:${port}`, clock: systemClock });
      await expect(c.start()).rejects.toMatchObject({ code: 'EADDRINUSE', syscall: 'bind' });
    } finally {
      await close();
    }
  });
});

describe('PolledUdpTransport arrival times', () => {
  it('never dates a datagram before the previous poll: a wall clock stepped forward between arrival and read moves no evidence back', async () => {
    const clock = new VirtualClock(1000);
    let ageUs = 0;
    const fake = {
      DatagramSocket: class {
        readonly fd = 3;
        readonly closed = false;
        readonly port = 7946;
        receive() {
          return { data: [Buffer.from([1])], hosts: ['127.0.0.1'], ports: [7000], agesUs: [ageUs] };
        }
        target() {
          return Buffer.alloc(16);
        }
        send() {
          return 0;
        }
        close() {}
      },
    } as unknown as NativeAddon;
    const t = new PolledUdpTransport({ bind: '127.0.0.1:7946', clock, native: fake });
    await t.start();
    const at: number[] = [];
    t.onMessage((_d, _from, when) => at.push(when ?? NaN));
    clock.advance(10);
    ageUs = 4_000; // arrived 4 ms ago: dated so
    t.poll();
    clock.advance(10);
    ageUs = 3_600e6; // the kernel's CLOCK_REALTIME stamp says an hour ago (the clock was stepped)
    t.poll();
    expect(at).toEqual([1006, 1010]); // the second one is dated at the previous poll, not an hour back
    await t.stop();
  });

  it('without the engine, carries the membership\'s beats as numbers: most of what a member accepts never becomes a JS datagram, and nothing is dropped', async () => {
    const { transports, make } = await threeOnLoopback(false);
    const counts = transports.map(() => ({ beats: 0, datagrams: 0 }));
    transports.forEach((t, i) => {
      const onBeat = t.beats.onBeat.bind(t.beats);
      t.beats.onBeat = (h) => onBeat((...a) => (counts[i]!.beats++, h(...a)));
      const onMessage = t.onMessage.bind(t);
      t.onMessage = (h) => onMessage((...a) => (counts[i]!.datagrams++, h(...a)));
    });
    const members = make();
    try {
      for (const m of members) await m.start();
      await sleep(1_000);
      for (const c of counts) c.beats = c.datagrams = 0;
      const before = members.map((m) => m.stats());
      await sleep(1_000);
      members.forEach((m, i) => {
        const s = m.stats();
        expect(m.alive().size).toBe(3);
        // About 200 a second from 2 peers at 10 ms, one in ten full (fullHeartbeatMs 100).
        expect(counts[i]!.beats).toBeGreaterThan(100);
        expect(counts[i]!.beats).toBeGreaterThan(4 * counts[i]!.datagrams);
        expect(s.accepted - before[i]!.accepted).toBe(counts[i]!.beats + counts[i]!.datagrams);
        expect(Object.values(s.drops).reduce((a, b) => a + b, 0)).toBe(0);
      });
    } finally {
      for (const m of members) await m.stop();
    }
  });

  it('with the engine, the membership ticks about 10-30 times a second instead of 100, sees its peers and buries a stopped one as fast', async () => {
    const members = (await threeOnLoopback(true)).make();
    try {
      for (const m of members) await m.start();
      await sleep(1_000);
      const before = members.map((m) => m.stats());
      await sleep(2_000);
      members.forEach((m, i) => {
        const s = m.stats();
        expect(s.beats).toMatchObject({ engine: true });
        expect(m.alive().size).toBe(3);
        // About 100 beats a second from each of 2 peers, accepted by the engine.
        expect(s.beats!.accepted - before[i]!.beats!.accepted).toBeGreaterThan(250);
        expect(s.beats!.sent - before[i]!.beats!.sent).toBeGreaterThan(250);
        expect((s.ticks! - before[i]!.ticks!) / 2).toBeLessThan(50);
        expect(Object.values(s.drops).reduce((a, b) => a + b, 0)).toBe(0);
      });
      const t0 = performance.now();
      await members[2]!.stop();
      while (members[0]!.alive().has('node-c') || members[1]!.alive().has('node-c')) {
        expect(performance.now() - t0).toBeLessThan(500);
        await sleep(2);
      }
      expect(members[0]!.alive().has('node-b')).toBe(true);
    } finally {
      for (const m of members) await m.stop();
    }
  });
});

/** Three started transports on 127.0.0.1 (with or without the engine) and a maker of their memberships (not started). */
async function threeOnLoopback(engine: boolean): Promise<{ transports: PolledUdpTransport[]; make: () => Membership[] }> {
  const names = ['node-a', 'node-b', 'node-c'];
  const transports = names.map(() => new PolledUdpTransport({ bind: '127.0.0.1:0', clock: systemClock, engine }));
  for (const t of transports) await t.start();
  const peers = names.map((name, i) => ({ name, address: transports[i]!.address() }));
  const make = (): Membership[] =>
    names.map((self, i) => new Membership({ self, peers, secret: 'loopback test secret that is long enough', clock: systemClock, transport: transports[i]!, logger: silentLogger() }));
  return { transports, make };
}
