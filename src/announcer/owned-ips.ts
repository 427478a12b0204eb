import ipaddr from 'ipaddr.js';

/** An IP this node answers for, with the forms the hot path needs. */
export interface OwnedIp {
  /** Canonical text (Go's net.IP.String() form; RFC 5952 for IPv6). */
  readonly ip: string;
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
}

/** Parses and canonicalises an IP; undefined if it is not one. */
export function toOwnedIp(text: string): OwnedIp | undefined {
  if (!ipaddr.isValid(text)) return undefined;
  let a = ipaddr.parse(text);
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) a = (a as ipaddr.IPv6).toIPv4Address();
  const bytes = Uint8Array.from(a.toByteArray());
  return { ip: a.toString(), family: a.kind() === 'ipv4' ? 4 : 6, bytes };
}

/**
 * A lookup key for an address taken from a frame, without allocating a string for IPv4:
 * IPv4 becomes a uint32 number, IPv6 a hex string.
 */
export function ipKey(bytes: Uint8Array): number | string {
  if (bytes.length === 4) return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
