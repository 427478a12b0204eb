/**
 * The ICMPv6 checksum (RFC 4443 §2.3): the 16-bit one's complement of the one's complement sum
 * (RFC 1071) of the RFC 8200 §8.1 pseudo-header and the whole ICMPv6 message.
 */
import { NEXT_HEADER_ICMPV6 } from './ipv6.js';

/** RFC 4443 §2.1: type (1), code (1), checksum (2). */
export const ICMPV6_HEADER_LENGTH = 4;
/** RFC 4443 §2.1: offset of the checksum field in the message. */
export const ICMPV6_CHECKSUM_OFFSET = 2;

/**
 * One's complement sum, not yet folded, of the pseudo-header and the message. Fits a double
 * exactly: at most 32 + 32768 words of at most 0xffff.
 */
function partialSum(src: Uint8Array, dst: Uint8Array, icmp: Uint8Array): number {
  let sum = 0;
  // RFC 8200 §8.1 pseudo-header: source (16), destination (16), upper-layer packet length (32
  // bits), three zero octets, next header.
  for (let i = 0; i < 16; i += 2) {
    sum += ((src[i]! << 8) | src[i + 1]!) + ((dst[i]! << 8) | dst[i + 1]!);
  }
  const length = icmp.length;
  sum += Math.floor(length / 0x10000) + (length & 0xffff) + NEXT_HEADER_ICMPV6;
  const even = length & ~1;
  for (let i = 0; i < even; i += 2) sum += (icmp[i]! << 8) | icmp[i + 1]!;
  // RFC 1071 §4.1: an odd trailing octet is padded with a zero octet.
  if (length !== even) sum += icmp[even]! << 8;
  return sum;
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * The checksum to put in `icmp[2..3]`. The field's current contents are ignored (taken as zero),
 * so this serves both to fill in a new message and to recompute one that was received.
 */
export function icmpv6Checksum(src: Uint8Array, dst: Uint8Array, icmp: Uint8Array): number {
  let sum = partialSum(src, dst, icmp);
  if (icmp.length >= ICMPV6_HEADER_LENGTH) {
    sum -= (icmp[ICMPV6_CHECKSUM_OFFSET]! << 8) | icmp[ICMPV6_CHECKSUM_OFFSET + 1]!;
  } else if (icmp.length === ICMPV6_CHECKSUM_OFFSET + 1) {
    sum -= icmp[ICMPV6_CHECKSUM_OFFSET]! << 8;
  }
  return ~fold(sum) & 0xffff;
}

/**
 * RFC 1071 §3 receiver check: the sum over pseudo-header and message, checksum included, is
 * all ones. This accepts both encodings of a zero checksum (0x0000 and 0xffff).
 */
export function verifyIcmpv6Checksum(src: Uint8Array, dst: Uint8Array, icmp: Uint8Array): boolean {
  return fold(partialSum(src, dst, icmp)) === 0xffff;
}

/** Computes the checksum of `icmp` and writes it into its checksum field. */
export function fillIcmpv6Checksum(src: Uint8Array, dst: Uint8Array, icmp: Uint8Array): void {
  const c = icmpv6Checksum(src, dst, icmp);
  icmp[ICMPV6_CHECKSUM_OFFSET] = c >>> 8;
  icmp[ICMPV6_CHECKSUM_OFFSET + 1] = c & 0xff;
}
