import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fillIcmpv6Checksum, icmpv6Checksum, verifyIcmpv6Checksum } from './icmpv6.js';
import { hex } from '../../test/helpers/bytes.js';

/**
 * The textbook computation, written independently of the code under test: lay out the
 * RFC 8200 §8.1 pseudo-header and the message (checksum field zeroed) in one buffer, add up
 * big-endian 16-bit words, fold the carries, complement (RFC 1071 §4.1).
 */
function referenceChecksum(src: Uint8Array, dst: Uint8Array, icmp: Uint8Array): number {
  const buf = Buffer.alloc(40 + icmp.length + (icmp.length % 2));
  Buffer.from(src).copy(buf, 0);
  Buffer.from(dst).copy(buf, 16);
  buf.writeUInt32BE(icmp.length, 32);
  buf.writeUInt8(58, 39);
  Buffer.from(icmp).copy(buf, 40);
  if (icmp.length >= 4) buf.writeUInt16BE(0, 42);
  else if (icmp.length === 3) buf.writeUInt8(0, 42);
  let sum = 0;
  for (let i = 0; i < buf.length; i += 2) sum += buf.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

const address = fc.uint8Array({ minLength: 16, maxLength: 16 });

/**
 * A Neighbor Solicitation from fe80::211:22ff:fe33:4455 to ff02::1:ff00:a for 2001:db8::a, with a
 * source link-layer address option. tcpdump -vvv prints "[icmp6 sum ok]" for it; checksum 0x7f1e.
 */
const NS_SRC = hex('fe80000000000000021122fffe334455');
const NS_DST = hex('ff0200000000000000000001ff00000a');
const NS_ICMP = hex('87007f1e 00000000 20010db800000000000000000000000a 0101001122334455');

describe('ICMPv6 checksum', () => {
  it('matches a captured Neighbor Solicitation (known answer)', () => {
    expect(icmpv6Checksum(NS_SRC, NS_DST, NS_ICMP)).toBe(0x7f1e);
    expect(verifyIcmpv6Checksum(NS_SRC, NS_DST, NS_ICMP)).toBe(true);
  });

  it('agrees with a reference implementation, odd lengths included', () => {
    fc.assert(
      fc.property(address, address, fc.uint8Array({ maxLength: 200 }), (src, dst, icmp) => {
        expect(icmpv6Checksum(src, dst, icmp)).toBe(referenceChecksum(src, dst, icmp));
      }),
      { numRuns: 2000 },
    );
  });

  it('a filled-in message verifies, and any single bit flip is detected', () => {
    fc.assert(
      fc.property(address, address, fc.uint8Array({ minLength: 4, maxLength: 100 }), fc.nat(), (src, dst, icmp, n) => {
        fillIcmpv6Checksum(src, dst, icmp);
        expect(verifyIcmpv6Checksum(src, dst, icmp)).toBe(true);
        const bit = n % (icmp.length * 8);
        icmp[bit >>> 3]! ^= 1 << (bit & 7);
        expect(verifyIcmpv6Checksum(src, dst, icmp)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('covers the pseudo-header: a different source address fails', () => {
    const other = NS_SRC.slice();
    other[15]! ^= 1;
    expect(verifyIcmpv6Checksum(other, NS_DST, NS_ICMP)).toBe(false);
  });

  it('accepts both encodings of a zero checksum (RFC 1071: 0x0000 and 0xffff)', () => {
    const icmp = NS_ICMP.slice();
    // Put the checksum into the reserved word: the sum becomes all ones, the checksum 0.
    icmp[4] = 0x7f;
    icmp[5] = 0x1e;
    expect(icmpv6Checksum(NS_SRC, NS_DST, icmp)).toBe(0);
    icmp[2] = 0;
    icmp[3] = 0;
    expect(verifyIcmpv6Checksum(NS_SRC, NS_DST, icmp)).toBe(true);
    icmp[2] = 0xff;
    icmp[3] = 0xff;
    expect(verifyIcmpv6Checksum(NS_SRC, NS_DST, icmp)).toBe(true);
  });
});
