/**
 * Ethernet MAC addresses as 6-byte Uint8Arrays. Exported constants are shared: never mutate them.
 */

export const MAC_LENGTH = 6;

/** IEEE 802-2014 §8.2: the all-ones address, used by ARP requests and announcements. */
export const BROADCAST_MAC: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** RFC 2464 §7: IPv6 all-nodes ff02::1 maps to 33:33:00:00:00:01. */
export const ALL_NODES_MAC: Uint8Array = new Uint8Array([0x33, 0x33, 0x00, 0x00, 0x00, 0x01]);

const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** 'aa:bb:cc:dd:ee:ff', lower case. Meant for logs and status, not for the hot path. */
export function macToString(mac: Uint8Array): string {
  return `${HEX[mac[0]!]}:${HEX[mac[1]!]}:${HEX[mac[2]!]}:${HEX[mac[3]!]}:${HEX[mac[4]!]}:${HEX[mac[5]!]}`;
}

const MAC_PATTERN = /^([0-9a-f]{2})([:-])([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})$/i;

/**
 * Parses six two-digit hex octets separated by ':' or '-' (one separator throughout, any case),
 * as `ip link` and IEEE 802 canonical form print them. Returns undefined for anything else.
 */
export function parseMac(text: string): Uint8Array | undefined {
  const m = MAC_PATTERN.exec(text);
  if (m === null) return undefined;
  return new Uint8Array([
    parseInt(m[1]!, 16),
    parseInt(m[3]!, 16),
    parseInt(m[4]!, 16),
    parseInt(m[5]!, 16),
    parseInt(m[6]!, 16),
    parseInt(m[7]!, 16),
  ]);
}

export function macEquals(a: Uint8Array, b: Uint8Array): boolean {
  return (
    a.length === MAC_LENGTH &&
    b.length === MAC_LENGTH &&
    a[0] === b[0] &&
    a[1] === b[1] &&
    a[2] === b[2] &&
    a[3] === b[3] &&
    a[4] === b[4] &&
    a[5] === b[5]
  );
}

export function isBroadcastMac(mac: Uint8Array): boolean {
  return macEquals(mac, BROADCAST_MAC);
}

/** IEEE 802-2014 §8.2: the I/G bit (least significant bit of the first octet) marks a group
 *  address; broadcast is a group address too. */
export function isMulticastMac(mac: Uint8Array): boolean {
  return (mac[0]! & 0x01) !== 0;
}

/** RFC 2464 §7: an IPv6 multicast address maps to 33:33 followed by its last four octets. */
export function ipv6MulticastMac(ipv6: Uint8Array): Uint8Array {
  return new Uint8Array([0x33, 0x33, ipv6[12]!, ipv6[13]!, ipv6[14]!, ipv6[15]!]);
}

/**
 * The MAC of the solicited-node group of `ipv6` (RFC 4291 §2.7.1 ff02::1:ffXX:XXXX, mapped by
 * RFC 2464 §7): 33:33:ff followed by the address's last three octets. The responder joins it
 * (FrameSocket.addMembership) for every IPv6 VIP it owns.
 */
export function solicitedNodeMulticastMac(ipv6: Uint8Array): Uint8Array {
  return new Uint8Array([0x33, 0x33, 0xff, ipv6[13]!, ipv6[14]!, ipv6[15]!]);
}
