import { familyBits, formatIp, isIpv4MappedText, parseIp, type Ip, type IpFamily } from './address.js';

/** A prefix: `network` has no host bits set. */
export interface Cidr {
  readonly family: IpFamily;
  readonly network: bigint;
  readonly prefix: number;
}

/** An inclusive range of addresses of one family. */
export interface IpRange {
  readonly family: IpFamily;
  readonly start: bigint;
  readonly end: bigint;
}

/**
 * Why a text is not a CIDR or range, in words a user can act on. `problem` sorts the failure:
 * a bare address without prefix length, a reversed or mixed-family range, or anything else.
 */
export type ParseFailure = {
  readonly ok: false;
  readonly reason: string;
  readonly problem: 'invalid' | 'no-prefix' | 'reversed' | 'mixed-family';
};

export type CidrParse =
  | {
      readonly ok: true;
      readonly cidr: Cidr;
      /** The text had host bits set ("10.0.0.7/24"); `cidr` is the whole network. */
      readonly hadHostBits: boolean;
    }
  | ParseFailure;

export type RangeParse = { readonly ok: true; readonly range: IpRange } | ParseFailure;

/** 2^(bits - prefix): the number of addresses in `cidr`, exact for any prefix. */
export function cidrSize(cidr: Cidr): bigint {
  return 1n << BigInt(familyBits(cidr.family) - cidr.prefix);
}

/** First and last address of `cidr`. */
export function cidrRange(cidr: Cidr): IpRange {
  return { family: cidr.family, start: cidr.network, end: cidr.network + cidrSize(cidr) - 1n };
}

/** "10.0.0.0/24", "fc00::/64": Go's IPNet.String(). */
export function formatCidr(cidr: Cidr): string {
  return `${formatIp({ family: cidr.family, value: cidr.network })}/${cidr.prefix}`;
}

/** True when `ip` lies in `cidr`. */
export function cidrContains(cidr: Cidr, ip: Ip): boolean {
  if (ip.family !== cidr.family) return false;
  return ip.value >= cidr.network && ip.value < cidr.network + cidrSize(cidr);
}

/** True when the two ranges share at least one address (never across families). */
export function rangesOverlap(a: IpRange, b: IpRange): boolean {
  return a.family === b.family && a.start <= b.end && b.start <= a.end;
}

/** Number of addresses in `range`. */
export function rangeSize(range: IpRange): bigint {
  return range.end - range.start + 1n;
}

/**
 * Parses "address/prefix" with the rules of Go's net.ParseCIDR (MetalLB's parser): the address
 * as `parseIp`, the prefix one or more decimal digits not above 32 or 128, no spaces. Host bits
 * are cleared, as Go does. IPv4-mapped IPv6 text is refused: Go gives it a 128-bit mask over an
 * IPv4 address, which no one means.
 */
export function parseCidr(text: string): CidrParse {
  const slash = text.indexOf('/');
  if (slash < 0) {
    const ip = parseIp(text);
    return ip
      ? { ok: false, problem: 'no-prefix', reason: `"${text}" has no prefix length` }
      : { ok: false, problem: 'invalid', reason: `"${text}" is not a CIDR` };
  }
  const addrText = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  if (text.trim() !== text) return { ok: false, problem: 'invalid', reason: `"${text}" has spaces around it` };
  if (isIpv4MappedText(addrText)) {
    return { ok: false, problem: 'invalid', reason: `"${addrText}" is an IPv4-mapped IPv6 address; write the IPv4 address instead` };
  }
  const ip = parseIp(addrText);
  if (!ip) return { ok: false, problem: 'invalid', reason: `"${addrText}" is not an IP address` };
  if (!/^\d+$/.test(prefixText)) return { ok: false, problem: 'invalid', reason: `prefix length "${prefixText}" is not a number` };
  const bits = familyBits(ip.family);
  const prefix = Number(prefixText);
  if (prefix > bits) {
    return { ok: false, problem: 'invalid', reason: `prefix length /${prefixText} is too long for IPv${ip.family} (at most /${bits})` };
  }
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  const network = ip.value & ~hostMask;
  return {
    ok: true,
    cidr: { family: ip.family, network, prefix },
    hadHostBits: network !== ip.value,
  };
}

/**
 * Parses "start-end" with the rules of MetalLB's config.ParseCIDR: split at the first "-",
 * spaces around each address allowed, both addresses of one family, start not after end.
 */
export function parseIpRange(text: string): RangeParse {
  const dash = text.indexOf('-');
  if (dash < 0) return { ok: false, problem: 'invalid', reason: `"${text}" is not a range (no "-")` };
  const startText = text.slice(0, dash).trim();
  const endText = text.slice(dash + 1).trim();
  for (const [which, part] of [
    ['start', startText],
    ['end', endText],
  ] as const) {
    if (isIpv4MappedText(part)) {
      return { ok: false, problem: 'invalid', reason: `${which} "${part}" is an IPv4-mapped IPv6 address; write the IPv4 address instead` };
    }
    if (parseIp(part) === undefined) {
      const hint = part.includes('/') ? ' (a range takes plain addresses, without a prefix length)' : '';
      return { ok: false, problem: 'invalid', reason: `${which} "${part}" is not an IP address${hint}` };
    }
  }
  const start = parseIp(startText) as Ip;
  const end = parseIp(endText) as Ip;
  if (start.family !== end.family) {
    return { ok: false, problem: 'mixed-family', reason: `start ${formatIp(start)} is IPv${start.family} but end ${formatIp(end)} is IPv${end.family}` };
  }
  if (start.value > end.value) {
    return { ok: false, problem: 'reversed', reason: `start ${formatIp(start)} is after the end ${formatIp(end)}` };
  }
  return { ok: true, range: { family: start.family, start: start.value, end: end.value } };
}

function trailingZeros(v: bigint, bits: number): number {
  if (v === 0n) return bits;
  let n = 0;
  while ((v & 1n) === 0n) {
    v >>= 1n;
    n++;
  }
  return n;
}

/**
 * The smallest list of CIDRs covering exactly `range`, in ascending order (what Go's
 * mikioh/ipaddr.Summarize returns for MetalLB's "a-b" entries). cidr-tools has no range
 * input, hence this; it yields at most 2 × bits prefixes.
 */
export function summarizeRange(range: IpRange): Cidr[] {
  const bits = familyBits(range.family);
  const out: Cidr[] = [];
  let start = range.start;
  while (start <= range.end) {
    let hostBits = trailingZeros(start, bits);
    const remaining = range.end - start + 1n;
    while (hostBits > 0 && 1n << BigInt(hostBits) > remaining) hostBits--;
    out.push({ family: range.family, network: start, prefix: bits - hostBits });
    start += 1n << BigInt(hostBits);
  }
  return out;
}
