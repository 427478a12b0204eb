import type { Ip } from './address.js';

interface Block {
  readonly family: 4 | 6;
  readonly base: bigint;
  readonly bits: number;
  readonly why: string;
}

const v4 = (a: number, b: number, c: number, d: number): bigint => (BigInt(a) << 24n) | (BigInt(b) << 16n) | (BigInt(c) << 8n) | BigInt(d);

/**
 * Addresses that can never be a service IP announced with ARP/NDP: the kernel handles them
 * itself, routers do not forward them, or no host may claim them.
 */
const BLOCKS: readonly Block[] = [
  // RFC 1122 §3.2.1.3: 0.0.0.0/8 is "this host on this network", never a destination.
  { family: 4, base: v4(0, 0, 0, 0), bits: 8, why: 'is an unspecified ("this network", 0.0.0.0/8) address' },
  { family: 4, base: v4(127, 0, 0, 0), bits: 8, why: 'is a loopback address (127.0.0.0/8)' },
  // RFC 3927: link-local, configured by the hosts themselves.
  { family: 4, base: v4(169, 254, 0, 0), bits: 16, why: 'is a link-local address (169.254.0.0/16)' },
  // RFC 5771: multicast is never resolved with ARP.
  { family: 4, base: v4(224, 0, 0, 0), bits: 4, why: 'is a multicast address (224.0.0.0/4)' },
  { family: 4, base: v4(255, 255, 255, 255), bits: 32, why: 'is the broadcast address' },
  { family: 6, base: 0n, bits: 128, why: 'is the unspecified address (::)' },
  { family: 6, base: 1n, bits: 128, why: 'is the loopback address (::1)' },
  // RFC 4291 §2.5.6 and §2.7.
  { family: 6, base: 0xfe80n << 112n, bits: 10, why: 'is a link-local address (fe80::/10)' },
  { family: 6, base: 0xffn << 120n, bits: 8, why: 'is a multicast address (ff00::/8)' },
];

/** Why `ip` cannot be a VIP (unspecified, loopback, link-local, multicast, broadcast), or undefined if it can. */
export function unusableVipReason(ip: Ip): string | undefined {
  const width = ip.family === 4 ? 32 : 128;
  for (const b of BLOCKS) {
    if (b.family !== ip.family) continue;
    const shift = BigInt(width - b.bits);
    if (ip.value >> shift === b.base >> shift) return b.why;
  }
  return undefined;
}
