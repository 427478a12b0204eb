import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRng, mutateFrame, randomFrame } from '../../bench/fuzz-frames.js';
import {
  ALL_NODES,
  decodeIpv6,
  encodeIpv6,
  ipv6Equals,
  isIpv6ExtensionHeader,
  isIpv6Multicast,
  isSolicitedNodeMulticast,
  isUnspecified,
  solicitedNodeAddress,
  UNSPECIFIED,
  type Ipv6HeaderFields,
} from './ipv6.js';
import { ip6 } from '../../test/helpers/bytes.js';

const address = fc.uint8Array({ minLength: 16, maxLength: 16 });
const header: fc.Arbitrary<Ipv6HeaderFields> = fc.record({
  trafficClass: fc.integer({ min: 0, max: 255 }),
  flowLabel: fc.integer({ min: 0, max: 0xfffff }),
  nextHeader: fc.integer({ min: 0, max: 255 }),
  hopLimit: fc.integer({ min: 0, max: 255 }),
  src: address,
  dst: address,
});
const payload = fc.uint8Array({ maxLength: 120 });

describe('IPv6 codec', () => {
  it('decode(encode(x)) is x, payload length taken from the payload', () => {
    fc.assert(
      fc.property(header, payload, (h, p) => {
        expect(decodeIpv6(encodeIpv6(h, p))).toEqual({ ok: true, value: { ...h, payloadLength: p.length, payload: p } });
      }),
    );
  });

  it('cuts trailing Ethernet padding off the payload', () => {
    fc.assert(
      fc.property(header, payload, fc.uint8Array({ minLength: 1, maxLength: 20 }), (h, p, pad) => {
        const packet = encodeIpv6(h, p);
        const padded = new Uint8Array(packet.length + pad.length);
        padded.set(packet);
        padded.set(pad, packet.length);
        const d = decodeIpv6(padded);
        expect(d.ok && d.value.payload).toEqual(p);
      }),
    );
  });

  it('packs version, traffic class and flow label as RFC 8200 §3 says (known answer)', () => {
    const bytes = encodeIpv6(
      { trafficClass: 0xab, flowLabel: 0x12345, nextHeader: 58, hopLimit: 255, src: ip6('fe80::1'), dst: ALL_NODES },
      new Uint8Array([1, 2]),
    );
    expect(Buffer.from(bytes.subarray(0, 8)).toString('hex')).toBe('6ab12345' + '0002' + '3a' + 'ff');
  });

  it('never throws on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (b) => void decodeIpv6(b)), { numRuns: 2000 });
  });

  it('never throws on mutated valid packets', () => {
    const valid = fc.oneof(
      fc.tuple(header, payload).map(([h, p]) => encodeIpv6(h, p)),
      fc.integer().map((s) => randomFrame(createRng(s)).subarray(14)),
    );
    fc.assert(
      fc.property(valid, fc.integer(), (b, seed) => {
        void decodeIpv6(mutateFrame(createRng(seed), b));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('IPv6 addresses', () => {
  it('derives the solicited-node address from the low 24 bits (RFC 4291 §2.7.1)', () => {
    expect(solicitedNodeAddress(ip6('2001:db8::1:2345:6789'))).toEqual(ip6('ff02::1:ff45:6789'));
    expect(isSolicitedNodeMulticast(ip6('ff02::1:ff45:6789'))).toBe(true);
    expect(isSolicitedNodeMulticast(ip6('ff02::1'))).toBe(false);
    expect(isSolicitedNodeMulticast(ip6('ff05::1:ff45:6789'))).toBe(false);
  });

  it('every solicited-node address is recognised as one', () => {
    fc.assert(
      fc.property(address, (a) => {
        expect(isSolicitedNodeMulticast(solicitedNodeAddress(a))).toBe(true);
      }),
    );
  });

  it('knows ::, ff02::1 and multicast', () => {
    expect(isUnspecified(UNSPECIFIED)).toBe(true);
    expect(isUnspecified(ip6('::1'))).toBe(false);
    expect(ALL_NODES).toEqual(ip6('ff02::1'));
    expect(isIpv6Multicast(ALL_NODES)).toBe(true);
    expect(isIpv6Multicast(ip6('fe80::1'))).toBe(false);
    expect(ipv6Equals(ip6('2001:db8::1'), ip6('2001:db8:0::1'))).toBe(true);
    expect(ipv6Equals(ip6('2001:db8::1'), ip6('2001:db8::2'))).toBe(false);
  });

  it('lists the extension headers of the IANA registry, not ICMPv6 or transports', () => {
    for (const nh of [0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254]) expect(isIpv6ExtensionHeader(nh)).toBe(true);
    for (const nh of [6, 17, 58, 59]) expect(isIpv6ExtensionHeader(nh)).toBe(false);
  });
});
