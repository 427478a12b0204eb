import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PeerTransport } from '../../src/membership/peer-transport.js';

/** Two started transports that can reach each other, and how to let datagrams flow. */
export interface TransportPair {
  readonly a: PeerTransport;
  readonly b: PeerTransport;
  readonly aAddress: string;
  readonly bAddress: string;
  /** Lets in-flight datagrams arrive (advance a virtual clock, or wait on loopback). */
  settle(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The PeerTransport contract, run against every implementation (UdpTransport on loopback,
 * MemoryNetwork): what the membership core relies on, nothing more.
 */
export function describePeerTransportCompliance(name: string, makePair: () => Promise<TransportPair>): void {
  describe(`PeerTransport compliance: ${name}`, () => {
    let pair: TransportPair;
    beforeEach(async () => {
      pair = await makePair();
    });
    afterEach(async () => {
      await pair.close();
    });

    it('delivers the exact bytes with the sender address', async () => {
      const got: [Uint8Array, string][] = [];
      pair.b.onMessage((d, from) => got.push([Uint8Array.from(d), from]));
      pair.a.send(pair.bAddress, new Uint8Array([1, 2, 3, 250]));
      await pair.settle();
      expect(got).toHaveLength(1);
      expect([...got[0]![0]]).toEqual([1, 2, 3, 250]);
      expect(got[0]![1]).toBe(pair.aAddress);
    });

    it('delivers nothing to a stopped transport and sends nothing from one', async () => {
      const got: Uint8Array[] = [];
      pair.b.onMessage((d) => got.push(d));
      await pair.b.stop();
      pair.a.send(pair.bAddress, new Uint8Array([1]));
      await pair.settle();
      await pair.a.stop();
      expect(() => pair.a.send(pair.bAddress, new Uint8Array([2]))).not.toThrow();
      await pair.settle();
      expect(got).toHaveLength(0);
    });

    it('never throws on send to an unreachable or unusable address', async () => {
      expect(() => pair.a.send('192.0.2.1:9', new Uint8Array([1]))).not.toThrow();
      expect(() => pair.a.send('not an address', new Uint8Array([1]))).not.toThrow();
      await pair.settle();
    });
  });
}
