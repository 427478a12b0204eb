/**
 * Why a codec refused a frame. An enumerated set, never free text, so that metrics get a bounded
 * label set (`malformed:<reason>`, see src/announcer/responder-stats.ts). Responders add their own
 * reasons ('not-ours', ...) in their own type; these are only about the bytes themselves.
 */
export const DROP_REASONS = [
  /** The buffer ends before a fixed-size header or field is complete. */
  'truncated',
  /** A length field disagrees with the bytes present or with the protocol (ARP hlen/plen,
   *  IPv6 payload length, ICMPv6 length of an NDP message). */
  'bad-length',
  /** IEEE 802.3 §3.2.6: a Length/Type value below 0x0600 is an 802.3 length (LLC frame),
   *  which never carries ARP or IPv6 in Ethernet II framing. */
  'unsupported-ethertype',
  /** An S-tag (802.1ad, 0x88a8) or a second 802.1Q tag: stacked VLANs are not supported. */
  'unsupported-vlan-tag',
  /** ARP hardware type other than 1 (Ethernet). */
  'unsupported-hardware-type',
  /** ARP protocol type other than 0x0800 (IPv4). */
  'unsupported-protocol-type',
  /** ARP operation other than request (1) or reply (2), e.g. RARP (3/4, RFC 903). */
  'unsupported-arp-op',
  /** IPv6 header version field is not 6 (RFC 8200 §3). */
  'bad-ip-version',
  /** The IPv6 next header is an extension header; NDP is only parsed without them. */
  'ipv6-extension-headers',
  /** The IPv6 next header is not ICMPv6 (58). */
  'not-icmpv6',
  /** An ICMPv6 message other than Neighbor Solicitation (135) or Advertisement (136). */
  'not-ndp',
  /** RFC 4861 §7.1.1/§7.1.2: IP hop limit is not 255 (the sender is off-link). */
  'bad-hop-limit',
  /** RFC 4861 §7.1.1/§7.1.2: ICMP code is not 0. */
  'bad-icmp-code',
  /** RFC 4443 §2.3: the ICMPv6 checksum does not verify. */
  'bad-checksum',
  /** RFC 4861 §7.1.1/§7.1.2: the target address is a multicast address. */
  'multicast-target',
  /** RFC 4291 §2.7: a multicast address is never a source address; an answer would go to a group. */
  'multicast-source',
  /** RFC 4861 §4.6/§7.1.1: an option of length 0, running past the end, or a link-layer
   *  address option whose length does not fit Ethernet (RFC 2464 §8). */
  'bad-option',
  /** RFC 4861 §7.1.1: source is :: (DAD) but destination is not a solicited-node address. */
  'dad-bad-destination',
  /** RFC 4861 §7.1.1: source is :: (DAD) but a source link-layer address option is present. */
  'dad-source-lla',
  /** RFC 4861 §7.1.2: an advertisement to a multicast destination has the Solicited flag set. */
  'solicited-multicast-na',
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

export interface Decoded<T> {
  readonly ok: true;
  readonly value: T;
}

export interface Dropped {
  readonly ok: false;
  readonly reason: DropReason;
  /** Static text naming the exact check; never built per frame. */
  readonly detail?: string;
}

/** What every decoder returns: decoders never throw, whatever the bytes. */
export type DecodeResult<T> = Decoded<T> | Dropped;

/**
 * A frozen drop result, meant for module-level constants: a flood of malformed frames then
 * allocates nothing on the drop path.
 */
export function dropped(reason: DropReason, detail: string): Dropped {
  return Object.freeze({ ok: false, reason, detail });
}
