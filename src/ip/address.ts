import ipaddr from 'ipaddr.js';

/** 4 or 6. */
export type IpFamily = 4 | 6;

/** An IP address as a number: IPv4 in [0, 2^32), IPv6 in [0, 2^128). */
export interface Ip {
  readonly family: IpFamily;
  readonly value: bigint;
}

/** Number of bits in an address of `family`. */
export function familyBits(family: IpFamily): 32 | 128 {
  return family === 4 ? 32 : 128;
}

// Go's netip rejects leading zeros in IPv4 octets ("01.2.3.4"), also inside an IPv6 text.
const IPV4_DOTTED = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;
const IPV6_CHARS = /^[0-9A-Fa-f:.]+$/;

function parseV4(text: string): bigint | undefined {
  const m = IPV4_DOTTED.exec(text);
  if (!m) return undefined;
  let v = 0n;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return undefined;
    v = (v << 8n) | BigInt(octet);
  }
  return v;
}

function parseV6(text: string): bigint | undefined {
  // Zones ("fe80::1%eth0") are refused, as by Go's net.ParseIP.
  if (!IPV6_CHARS.test(text) || !text.includes(':')) return undefined;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    // ipaddr.js reads "::1.2.3.4" as "::ffff:1.2.3.4"; rewrite the IPv4 tail as two groups.
    const embedded = parseV4(tail);
    if (embedded === undefined) return undefined;
    text = `${text.slice(0, lastColon + 1)}${(embedded >> 16n).toString(16)}:${(embedded & 0xffffn).toString(16)}`;
  }
  if (text.split(':').some((group) => group.length > 4)) return undefined;
  if (!ipaddr.IPv6.isValid(text)) return undefined;
  let v = 0n;
  for (const part of ipaddr.IPv6.parse(text).parts) v = (v << 16n) | BigInt(part);
  return v;
}

/**
 * Parses an IP address the way Go's net.ParseIP does (MetalLB's parser): dotted-quad IPv4
 * without leading zeros, or IPv6 without a zone. An IPv4-mapped IPv6 address
 * ("::ffff:10.0.0.1") is the IPv4 address, as in Go. Returns undefined for anything else,
 * including surrounding spaces.
 */
export function parseIp(text: string): Ip | undefined {
  const v4 = parseV4(text);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = parseV6(text);
  if (v6 === undefined) return undefined;
  if (v6 >> 32n === 0xffffn) return { family: 4, value: v6 & 0xffffffffn };
  return { family: 6, value: v6 };
}

/** True when `text` is written as an IPv4-mapped IPv6 address (::ffff:a.b.c.d or ::ffff:xxxx:xxxx). */
export function isIpv4MappedText(text: string): boolean {
  const v6 = parseV6(text);
  return v6 !== undefined && v6 >> 32n === 0xffffn;
}

/**
 * The canonical text of an address, identical to Go's net.IP.String(): dotted quad for IPv4;
 * for IPv6 RFC 5952 (lowercase, no leading zeros, the longest run of two or more zero groups
 * compressed, the first one on a tie).
 */
export function formatIp(ip: Ip): string {
  if (ip.family === 4) {
    const v = Number(ip.value);
    return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const groups: number[] = new Array<number>(8);
  let v = ip.value;
  for (let i = 7; i >= 0; i--) {
    groups[i] = Number(v & 0xffffn);
    v >>= 16n;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i >= 2 && j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/** Parses then formats: the canonical text of `text`, or undefined if it is not an IP. */
export function canonicalIp(text: string): string | undefined {
  const ip = parseIp(text);
  return ip ? formatIp(ip) : undefined;
}

/** Orders IPv4 before IPv6, then numerically. */
export function compareIps(a: Ip, b: Ip): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/**
 * True for an IPv4 address ending in .0 or .255: MetalLB's `ipConfusesBuggyFirmwares`
 * (internal/allocator/allocator.go), which `avoidBuggyIPs` skips. Never true for IPv6.
 */
export function isBuggyIp(ip: Ip): boolean {
  if (ip.family !== 4) return false;
  const last = ip.value & 0xffn;
  return last === 0n || last === 0xffn;
}

const V6_TAG = 1n << 128n;

/**
 * One bigint per address, distinct across families (IPv6 values carry bit 128), for use as a
 * Map key without building strings.
 */
export function ipKey(ip: Ip): bigint {
  return ip.family === 4 ? ip.value : ip.value | V6_TAG;
}

/** The address of a key made by `ipKey`. */
export function ipFromKey(key: bigint): Ip {
  return key >= V6_TAG ? { family: 6, value: key ^ V6_TAG } : { family: 4, value: key };
}
