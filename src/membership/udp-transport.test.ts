import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../clock/system-clock.js';
import { silentLogger } from '../observability/logger.js';
import { loadNative, type NativeAddon } from '../netdev/native.js';
import { Membership } from './membership.js';
import { describePeerTransportCompliance } from '../../test/compliance/peer-transport.js';
import type { PeerTransport } from './peer-transport.js';
import { PolledUdpTransport } from './polled-udp-transport.js';
import { UdpTransport } from './udp-transport.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(pred: () => boolean, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  while (!pred()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(1);
  }
  return performance.now() - t0;
}

type Made = PeerTransport & { address(): string };
const KINDS: [string, (bind: string) => Made][] = [
  ['UdpTransport (node:dgram)', (bind) => new UdpTransport({ bind })],
  ['PolledUdpTransport (native, read per tick)', (bind) => new PolledUdpTransport({ bind, clock: systemClock })],
  ['PolledUdpTransport without the beat fast path (an addon built before it)', (bind) => new PolledUdpTransport({ bind, clock: systemClock, native: addonWithoutBeats() })],
];

/** The addon as built before the beat fast path: its DatagramSocket has no setBeats/sendBeat. */
function addonWithoutBeats(): NativeAddon {
  const real = loadNative();
  class Old extends real.DatagramSocket {}
  Object.defineProperty(Old.prototype, 'setBeats', { value: undefined });
  Object.defineProperty(Old.prototype, 'sendBeat', { value: undefined });
  return { ...real, DatagramSocket: Old };
}

for (const [kind, make] of KINDS) {
  describePeerTransportCompliance(`${kind} on 127.0.0.1`, async () => {
    const a = make('127.0.0.1:0');
    const b = make('127.0.0.1:0');
    await a.start();
    await b.start();
    return {
      a,
      b,
      aAddress: a.address(),
      bAddress: b.address(),
      // A polled transport delivers when its owner polls (the membership: every tick).
      settle: async () => {
        await sleep(50);
        a.poll?.();
        b.poll?.();
      },
      close: async () => {
        await a.stop();
        await b.stop();
      },
    };
  });

  describe(`${kind} addresses`, () => {
    it('reaches IPv4 peers from a dual-stack [::] socket and reports them in IPv4 syntax', async () => {
      const a = make('[::]:0');
      const b = make('127.0.0.1:0');
      try {
        await a.start();
      } catch {
        return; // no IPv6 in this environment
      }
      await b.start();
      const got: string[] = [];
      b.onMessage((_d, from) => got.push(from));
      a.send(b.address(), new Uint8Array([1]));
      await until(() => {
        b.poll?.();
        return got.length > 0;
      }, 1000);
      expect(got[0]).toMatch(/^127\.0\.0\.1:\d+$/);
      await a.stop();
      await b.stop();
    });
  });

  describe(`Membership over ${kind} on loopback`, () => {
    it('three members see each other, then see a stopped one dead within 500 ms real time', async () => {
      const names = ['node-a', 'node-b', 'node-c'];
      const transports = names.map(() => make('127.0.0.1:0'));
      for (const t of transports) await t.start();
      const peers = names.map((name, i) => ({ name, address: transports[i]!.address() }));
      const members = names.map(
        (self, i) =>
          new Membership({
            self,
            peers,
            secret: 'loopback test secret that is long enough',
            clock: systemClock,
            transport: transports[i]!,
            logger: silentLogger(),
          }),
      );
      try {
        for (const m of members) await m.start();
        await until(() => members.every((m) => m.alive().size === 3), 1000);
        await sleep(200);
        expect(members.every((m) => m.alive().size === 3)).toBe(true);
        await members[2]!.stop();
        const took = await until(() => !members[0]!.alive().has('node-c') && !members[1]!.alive().has('node-c'), 1000);
        expect(took).toBeLessThan(500);
        expect(members[0]!.alive().has('node-b')).toBe(true);
        expect(members[0]!.stats().accepted).toBeGreaterThan(30);
      } finally {
        for (const m of members) await m.stop();
      }
    });
  });

  describe(`Membership over ${kind} on IPv6 loopback`, () => {
    it('recognises peers whose configured address is written uncompressed (source check on the real address format)', async () => {
      const names = ['node-a', 'node-b'];
      const transports = names.map(() => make('[::1]:0'));
      for (const t of transports) await t.start();
      // '[::1]:port' as reported, '[0:0:0:0:0:0:0:1]:port' as an operator may write it.
      const peers = names.map((name, i) => ({ name, address: transports[i]!.address().replace('[::1]', '[0:0:0:0:0:0:0:1]') }));
      const members = names.map(
        (self, i) =>
          new Membership({ self, peers, secret: 'loopback test secret that is long enough', clock: systemClock, transport: transports[i]!, logger: silentLogger() }),
      );
      try {
        for (const m of members) await m.start();
        await until(() => members.every((m) => m.stats().accepted > 20), 1000);
        expect(members.every((m) => m.alive().size === 2)).toBe(true);
        expect(members[0]!.stats().drops['unknown-source']).toBe(0);
      } finally {
        for (const m of members) await m.stop();
      }
    });
  });
}

describe('Membership over PolledUdpTransport under a flood', () => {
  it('a flood of unauthenticated datagrams from another address is dropped before the MAC, counted, and costs no false death', async () => {
    const names = ['node-a', 'node-b', 'node-c'];
    const transports = names.map(() => new PolledUdpTransport({ bind: '127.0.0.1:0', clock: systemClock }));
    for (const t of transports) await t.start();
    const peers = names.map((name, i) => ({ name, address: transports[i]!.address() }));
    const members = names.map(
      (self, i) => new Membership({ self, peers, secret: 'flood test secret that is long enough', clock: systemClock, transport: transports[i]!, logger: silentLogger() }),
    );
    // 127.0.0.2 is loopback too, but no peer's host: the source check drops it without a MAC.
    const flooder = createSocket('udp4');
    await new Promise<void>((r) => flooder.bind(0, '127.0.0.2', () => r()));
    let timer: ReturnType<typeof setInterval> | undefined;
    try {
      for (const m of members) await m.start();
      await until(() => members.every((m) => m.alive().size === 3), 2000);
      const deaths = members.map((m) => m.stats().deaths);
      const target = Number(transports[1]!.address().split(':')[1]);
      const junk = Buffer.alloc(200, 0x5a);
      let sent = 0;
      timer = setInterval(() => {
        for (let i = 0; i < 50; i++, sent++) flooder.send(junk, target, '127.0.0.1');
      }, 1);
      await sleep(1500);
      clearInterval(timer);
      timer = undefined;
      await sleep(100);
      const b = members[1]!;
      expect(sent).toBeGreaterThan(5000);
      expect(b.stats().drops['unknown-source']).toBeGreaterThan(1000);
      expect(members.map((m) => m.stats().deaths)).toEqual(deaths);
      expect(members.every((m) => m.alive().size === 3)).toBe(true);
    } finally {
      if (timer !== undefined) clearInterval(timer);
      flooder.close();
      for (const m of members) await m.stop();
    }
  });
});
