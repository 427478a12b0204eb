import { formatIp, parseIp } from '../ip/address.js';

/** An IP this node answers for, with the forms the hot path needs. */
export interface OwnedIp {
  /** Canonical text (Go's net.IP.String() form, as the election hashes it; RFC 5952 for IPv6). */
  readonly ip: string;
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
}

/** Four decimal octets; checked against their canonical form (no leading zero, at most 255). */
const CANONICAL_V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Parses and canonicalises an IP with the project's one parser (src/ip: Go's rules, so an
 * IPv4-mapped IPv6 address is the IPv4 address); undefined if it is not one.
 */
export function toOwnedIp(text: string): OwnedIp | undefined {
  // Fast path for the common case, an IPv4 address already in canonical form (what configs hold,
  // 10 000 of them at a time): the same result without BigInt arithmetic.
  const m = CANONICAL_V4.exec(text);
  if (m !== null) {
    const octets = [m[1]!, m[2]!, m[3]!, m[4]!];
    if (octets.every((o) => o === String(Number(o)) && Number(o) <= 255)) {
      const bytes = smallBytes(4);
      for (let i = 0; i < 4; i++) bytes[i] = Number(octets[i]);
      return { ip: text, family: 4, bytes };
    }
  }
  const parsed = parseIp(text);
  if (parsed === undefined) return undefined;
  const bytes = smallBytes(parsed.family === 4 ? 4 : 16);
  let v = parsed.value;
  for (let i = bytes.length - 1; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return { ip: formatIp(parsed), family: parsed.family, bytes };
}

/**
 * Bytes of an address: a slice of Node's shared 8 KiB pool (Buffer.allocUnsafe), zeroed, so
 * thousands of owned IPs do not each carry an ArrayBuffer and its backing store (about 200 bytes
 * apiece, most of it outside the JS heap).
 */
function smallBytes(n: 4 | 16): Uint8Array {
  return Buffer.allocUnsafe(n).fill(0);
}

/**
 * The canonical text of an IP (the `ip` of toOwnedIp), without parsing one already canonical:
 * most IPv4 texts of a config. Not an IP: the text itself.
 */
export function canonicalIp(text: string): string {
  const m = CANONICAL_V4.exec(text);
  if (m !== null && [m[1]!, m[2]!, m[3]!, m[4]!].every((o) => o === String(Number(o)) && Number(o) <= 255)) return text;
  return toOwnedIp(text)?.ip ?? text;
}

/**
 * A lookup key for an address taken from a frame, without allocating a string for IPv4:
 * IPv4 becomes a uint32 number, IPv6 a hex string.
 */
export function ipKey(bytes: Uint8Array): number | string {
  if (bytes.length === 4) return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
