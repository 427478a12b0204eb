import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FrameSocket } from '../../src/announcer/frame-socket.js';
import { SocketError } from '../../src/errors.js';

/** Two open sockets on one Ethernet segment (a veth pair, an in-memory LAN), and how to let frames arrive. */
export interface FrameSocketPair {
  readonly a: FrameSocket;
  readonly b: FrameSocket;
  /** Lets frames in flight arrive (nothing to wait for in memory; a few ms on a veth pair). */
  settle(): Promise<void>;
  /** Closes both sockets and whatever the factory made. */
  close(): Promise<void>;
}

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * The FrameSocket contract (src/announcer/frame-socket.ts), run against every implementation:
 * AfPacketSocket over a veth pair in a namespace (test/netns) and the in-memory LAN
 * (test/fakes/memory-lan.ts). What the responders and the announcer rely on, nothing more.
 *
 * A real link also carries the kernel's own frames (IPv6 DAD, MLD, router solicitations): every
 * frame of the suite has a random locally administered source MAC, and only those are looked at.
 */
export function describeFrameSocketCompliance(name: string, makePair: () => Promise<FrameSocketPair>): void {
  describe(`FrameSocket compliance: ${name}`, () => {
    const marker = `02${randomBytes(5).toString('hex')}`;
    // RFC 826 request, broadcast: who has 192.0.2.2, tell 192.0.2.1 (sender MAC = marker).
    const arp = (target = 2): Uint8Array =>
      hex(`ffffffffffff ${marker} 0806  0001 0800 06 04 0001 ${marker} c0000201  000000000000 c00002${target.toString(16).padStart(2, '0')}`);
    // RFC 8200 §3 IPv6 fe80::1 -> ff02::1:ff00:2 (hop limit 255), carrying an ICMPv6 Neighbor
    // Solicitation for fe80::2 (RFC 4861 §4.3) to its solicited-node multicast MAC (RFC 2464 §7).
    const solicitedMac = hex('3333ff000002');
    const ns = hex(
      `3333ff000002 ${marker} 86dd  6000000000183aff fe800000000000000000000000000001 ff0200000000000000000001ff000002` +
        '  87000000 00000000 fe800000000000000000000000000002',
    );

    let pair: FrameSocketPair;
    const seen = new Map<FrameSocket, string[]>();
    /** Records the suite's frames that reach `s`, as hex. */
    const listen = (s: FrameSocket): string[] => {
      const got: string[] = [];
      seen.set(s, got);
      s.onFrame((frame) => {
        const h = toHex(frame);
        if (h.slice(12, 24) === marker) got.push(h);
      });
      return got;
    };
    /** Settles until `got` has `count` frames, or a second has passed. */
    const arrived = async (got: readonly string[], count: number): Promise<void> => {
      const end = Date.now() + 1000;
      do await pair.settle();
      while (got.length < count && Date.now() < end);
    };

    beforeEach(async () => {
      pair = await makePair();
    });
    afterEach(async () => {
      await pair.close();
      seen.clear();
    });

    it('delivers an ARP request to the other end with the exact bytes', async () => {
      const got = listen(pair.b);
      pair.a.send(arp());
      await arrived(got, 1);
      expect(got).toEqual([toHex(arp())]);
    });

    it('delivers an IPv6 Neighbor Solicitation to a joined solicited-node group with the exact bytes', async () => {
      const got = listen(pair.b);
      pair.b.addMembership(solicitedMac);
      pair.a.send(ns);
      await arrived(got, 1);
      expect(got).toEqual([toHex(ns)]);
    });

    it('delivers in both directions', async () => {
      const atA = listen(pair.a);
      const atB = listen(pair.b);
      pair.a.send(arp(3));
      pair.b.send(arp(4));
      await arrived(atA, 1);
      await arrived(atB, 1);
      expect(atB).toEqual([toHex(arp(3))]);
      expect(atA).toEqual([toHex(arp(4))]);
    });

    it('keeps the order of a burst of frames', async () => {
      const got = listen(pair.b);
      const burst = Array.from({ length: 32 }, (_, i) => arp(10 + i));
      for (const f of burst) pair.a.send(f);
      await arrived(got, burst.length);
      expect(got).toEqual(burst.map(toHex));
    });

    it('never delivers a socket its own frames', async () => {
      const atA = listen(pair.a);
      const atB = listen(pair.b);
      pair.a.send(arp(5));
      await arrived(atB, 1);
      // b's frame leaves after a's arrived: a would have seen its own by the time b's arrives.
      pair.b.send(arp(6));
      await arrived(atA, 1);
      expect(atA).toEqual([toHex(arp(6))]);
      expect(atB).toEqual([toHex(arp(5))]);
    });

    it('takes a copy on send: changing the buffer afterwards changes nothing', async () => {
      const got = listen(pair.b);
      const frame = arp(7);
      pair.a.send(frame);
      frame.fill(0, 14);
      await arrived(got, 1);
      expect(got).toEqual([toHex(arp(7))]);
    });

    it('hands frames to the latest onFrame handler only', async () => {
      const first = listen(pair.b);
      const second = listen(pair.b);
      pair.a.send(arp(8));
      await arrived(second, 1);
      expect(second).toEqual([toHex(arp(8))]);
      expect(first).toEqual([]);
    });

    it('has a positive integer ifindex that does not change', () => {
      for (const s of [pair.a, pair.b]) {
        expect(Number.isInteger(s.ifindex) && s.ifindex > 0).toBe(true);
        expect(s.ifindex).toBe(s.ifindex);
      }
    });

    it('joins and leaves a multicast group, twice over', () => {
      for (let i = 0; i < 2; i++) {
        expect(() => pair.b.addMembership(solicitedMac)).not.toThrow();
        expect(() => pair.b.dropMembership(solicitedMac)).not.toThrow();
      }
    });

    it('delivers nothing to a closed socket', async () => {
      const atB = listen(pair.b);
      pair.a.send(arp(9));
      await arrived(atB, 1);
      pair.b.close();
      pair.a.send(arp(10));
      for (let i = 0; i < 3; i++) await pair.settle();
      expect(atB).toEqual([toHex(arp(9))]);
    });

    it('closes idempotently', () => {
      pair.a.close();
      expect(() => pair.a.close()).not.toThrow();
    });

    it('throws a SocketError (L2VIP_SOCKET) on send or membership change after close', () => {
      pair.a.close();
      expect(() => pair.a.send(arp())).toThrow(SocketError);
      expect(() => pair.a.send(arp())).toThrow(expect.objectContaining({ code: 'L2VIP_SOCKET' }));
      expect(() => pair.a.addMembership(solicitedMac)).toThrow(SocketError);
      expect(() => pair.a.dropMembership(solicitedMac)).toThrow(SocketError);
    });
  });
}
