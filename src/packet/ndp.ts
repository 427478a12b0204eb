/**
 * Neighbor Discovery (RFC 4861) Neighbor Solicitation and Advertisement: decoding with the
 * receive-side validity checks of §7.1.1/§7.1.2, and builders of complete Ethernet frames.
 * Decoded addresses and options are views into the input buffer, not copies: copy them before
 * the buffer is reused.
 */
import { view } from './bytes.js';
import { dropped, type DecodeResult } from './drop-reason.js';
import { ETHERTYPE_IPV6, ethernetHeaderLength, writeEthernetHeader, type VlanTag } from './ethernet.js';
import { allocFrame } from './frame-allocator.js';
import { fillIcmpv6Checksum, ICMPV6_HEADER_LENGTH, verifyIcmpv6Checksum } from './icmpv6.js';
import {
  ALL_NODES,
  IPV6_HEADER_LENGTH,
  IPV6_LENGTH,
  NEXT_HEADER_ICMPV6,
  isIpv6ExtensionHeader,
  isIpv6Multicast,
  isSolicitedNodeMulticast,
  isUnspecified,
  solicitedNodeAddress,
  writeIpv6Header,
  type Ipv6Header,
} from './ipv6.js';
import { ALL_NODES_MAC, MAC_LENGTH, ipv6MulticastMac } from './mac.js';

/** RFC 4861 §4.3. */
export const ICMPV6_NEIGHBOR_SOLICITATION = 135;
/** RFC 4861 §4.4. */
export const ICMPV6_NEIGHBOR_ADVERTISEMENT = 136;
/** RFC 4861 §7.1.1/§7.1.2: a hop limit of 255 proves the sender is on-link; sent with 255. */
export const NDP_HOP_LIMIT = 255;
/** RFC 4861 §7.1.1/§7.1.2: type, code, checksum, 4 bytes reserved/flags, 16-byte target. */
export const NDP_MIN_LENGTH = 24;
/** RFC 4861 §4.6.1: Source Link-Layer Address option. */
export const NDP_OPTION_SOURCE_LLA = 1;
/** RFC 4861 §4.6.1: Target Link-Layer Address option. */
export const NDP_OPTION_TARGET_LLA = 2;
/** RFC 4861 §4.6: option lengths are in units of 8 octets, type and length included. */
export const NDP_OPTION_UNIT = 8;
/** RFC 2464 §8: on Ethernet a link-layer address option is one unit: type, length, 6-byte MAC. */
const LLA_OPTION_LENGTH = NDP_OPTION_UNIT;

// RFC 4861 §4.4: flag bits in the first octet after the checksum.
const FLAG_ROUTER = 0x80;
const FLAG_SOLICITED = 0x40;
const FLAG_OVERRIDE = 0x20;
const TARGET_OFFSET = 8;

/** An option other than the link-layer address ones (prefix, MTU, nonce, ...), kept raw. */
export interface RawNdpOption {
  type: number;
  /** The option minus its type and length octets; `body.length + 2` is a multiple of 8. */
  body: Uint8Array;
}

/**
 * The options of a message. Like Linux (net/ipv6/ndisc.c ndisc_parse_options), the first of
 * several options of the same link-layer type wins and the others are ignored.
 */
export interface NdpOptions {
  /** RFC 4861 §4.6.1 type 1: the sender's MAC. */
  sourceLinkLayerAddress?: Uint8Array | undefined;
  /** RFC 4861 §4.6.1 type 2: the target's MAC. */
  targetLinkLayerAddress?: Uint8Array | undefined;
  /** All other options, in wire order. */
  other: readonly RawNdpOption[];
}

export interface NeighborSolicitation {
  kind: 'ns';
  target: Uint8Array;
  options: NdpOptions;
}

export interface NeighborAdvertisement {
  kind: 'na';
  router: boolean;
  solicited: boolean;
  override: boolean;
  target: Uint8Array;
  options: NdpOptions;
}

export type NdpMessage = NeighborSolicitation | NeighborAdvertisement;

/** The IPv6 header fields the validity checks need. */
export type NdpIpv6Fields = Pick<Ipv6Header, 'nextHeader' | 'hopLimit' | 'src' | 'dst'>;

const NO_OTHER_OPTIONS: readonly RawNdpOption[] = Object.freeze([]);

const EXTENSION_HEADERS = dropped('ipv6-extension-headers', 'IPv6 extension headers before ICMPv6');
const NOT_ICMPV6 = dropped('not-icmpv6', 'IPv6 next header is not ICMPv6 (58)');
const ICMP_TRUNCATED = dropped('truncated', 'shorter than the 4-byte ICMPv6 header');
const NOT_NDP = dropped('not-ndp', 'ICMPv6 type is neither 135 (NS) nor 136 (NA)');
const HOP_LIMIT = dropped('bad-hop-limit', 'RFC 4861 §7.1: IP hop limit is not 255');
const CODE = dropped('bad-icmp-code', 'RFC 4861 §7.1: ICMP code is not 0');
const SHORT = dropped('bad-length', 'RFC 4861 §7.1: ICMP length is less than 24');
const CHECKSUM = dropped('bad-checksum', 'RFC 4443 §2.3: ICMPv6 checksum does not verify');
const MULTICAST_TARGET = dropped('multicast-target', 'RFC 4861 §7.1: target is a multicast address');
const MULTICAST_SOURCE = dropped('multicast-source', 'RFC 4291 §2.7: source is a multicast address');
const OPTION_HEADER = dropped('bad-option', 'RFC 4861 §4.6: option header cut off by the end');
const OPTION_ZERO = dropped('bad-option', 'RFC 4861 §4.6: option with length 0');
const OPTION_OVERRUN = dropped('bad-option', 'RFC 4861 §4.6: option runs past the end');
const OPTION_LLA = dropped('bad-option', 'RFC 2464 §8: link-layer address option is not 8 bytes');
const DAD_DESTINATION = dropped('dad-bad-destination', 'RFC 4861 §7.1.1: NS from :: not to a solicited-node address');
const DAD_LLA = dropped('dad-source-lla', 'RFC 4861 §7.1.1: NS from :: carries a source link-layer address');
const SOLICITED_MULTICAST = dropped('solicited-multicast-na', 'RFC 4861 §7.1.2: NA to multicast with S=1');

/**
 * Decodes an NS or NA carried in `icmp` (the IPv6 payload, exactly `payloadLength` bytes as
 * decodeIpv6 returns it) and applies the validity checks of RFC 4861 §7.1.1 (NS) and §7.1.2 (NA).
 * Cheap checks come first; the checksum is verified before any field is trusted.
 */
export function decodeNdp(ip: NdpIpv6Fields, icmp: Uint8Array): DecodeResult<NdpMessage> {
  if (ip.nextHeader !== NEXT_HEADER_ICMPV6) {
    return isIpv6ExtensionHeader(ip.nextHeader) ? EXTENSION_HEADERS : NOT_ICMPV6;
  }
  const length = icmp.length;
  if (length < ICMPV6_HEADER_LENGTH) return ICMP_TRUNCATED;
  const type = icmp[0]!;
  if (type !== ICMPV6_NEIGHBOR_SOLICITATION && type !== ICMPV6_NEIGHBOR_ADVERTISEMENT) return NOT_NDP;
  if (ip.hopLimit !== NDP_HOP_LIMIT) return HOP_LIMIT;
  if (icmp[1] !== 0) return CODE;
  // Linux drops these before NDP sees them (ip6_rcv_core); an answer would go to a group.
  if (isIpv6Multicast(ip.src)) return MULTICAST_SOURCE;
  if (length < NDP_MIN_LENGTH) return SHORT;
  if (!verifyIcmpv6Checksum(ip.src, ip.dst, icmp)) return CHECKSUM;
  const target = view(icmp, TARGET_OFFSET, TARGET_OFFSET + IPV6_LENGTH);
  if (isIpv6Multicast(target)) return MULTICAST_TARGET;

  let sourceLla: Uint8Array | undefined;
  let targetLla: Uint8Array | undefined;
  let other: RawNdpOption[] | undefined;
  let i = NDP_MIN_LENGTH;
  while (i < length) {
    if (length - i < 2) return OPTION_HEADER;
    const optionType = icmp[i]!;
    const units = icmp[i + 1]!;
    if (units === 0) return OPTION_ZERO;
    const end = i + units * NDP_OPTION_UNIT;
    if (end > length) return OPTION_OVERRUN;
    if (optionType === NDP_OPTION_SOURCE_LLA || optionType === NDP_OPTION_TARGET_LLA) {
      if (units * NDP_OPTION_UNIT !== LLA_OPTION_LENGTH) return OPTION_LLA;
      const mac = view(icmp, i + 2, i + 2 + MAC_LENGTH);
      if (optionType === NDP_OPTION_SOURCE_LLA) sourceLla ??= mac;
      else targetLla ??= mac;
    } else {
      (other ??= []).push({ type: optionType, body: view(icmp, i + 2, end) });
    }
    i = end;
  }
  const options: NdpOptions = {
    sourceLinkLayerAddress: sourceLla,
    targetLinkLayerAddress: targetLla,
    other: other ?? NO_OTHER_OPTIONS,
  };

  if (type === ICMPV6_NEIGHBOR_SOLICITATION) {
    if (isUnspecified(ip.src)) {
      if (!isSolicitedNodeMulticast(ip.dst)) return DAD_DESTINATION;
      if (sourceLla !== undefined) return DAD_LLA;
    }
    return { ok: true, value: { kind: 'ns', target, options } };
  }
  const flags = icmp[4]!;
  const solicited = (flags & FLAG_SOLICITED) !== 0;
  if (solicited && isIpv6Multicast(ip.dst)) return SOLICITED_MULTICAST;
  return {
    ok: true,
    value: {
      kind: 'na',
      router: (flags & FLAG_ROUTER) !== 0,
      solicited,
      override: (flags & FLAG_OVERRIDE) !== 0,
      target,
      options,
    },
  };
}

function optionsLength(options: NdpOptions): number {
  let n = 0;
  if (options.sourceLinkLayerAddress !== undefined) n += LLA_OPTION_LENGTH;
  if (options.targetLinkLayerAddress !== undefined) n += LLA_OPTION_LENGTH;
  for (const o of options.other) {
    const size = o.body.length + 2;
    if (size % NDP_OPTION_UNIT !== 0 || size > 255 * NDP_OPTION_UNIT) {
      throw new RangeError(`NDP option ${o.type}: body length + 2 must be a multiple of 8, at most 2040`);
    }
    n += size;
  }
  return n;
}

function writeLla(out: Uint8Array, offset: number, type: number, mac: Uint8Array): number {
  if (mac.length !== MAC_LENGTH) throw new RangeError('link-layer address option needs a 6-byte MAC');
  out[offset] = type;
  out[offset + 1] = 1;
  out.set(mac, offset + 2);
  return offset + LLA_OPTION_LENGTH;
}

/** Options in a fixed order: source LLA, target LLA, then the others as given. */
function writeOptions(out: Uint8Array, offset: number, options: NdpOptions): void {
  if (options.sourceLinkLayerAddress !== undefined) {
    offset = writeLla(out, offset, NDP_OPTION_SOURCE_LLA, options.sourceLinkLayerAddress);
  }
  if (options.targetLinkLayerAddress !== undefined) {
    offset = writeLla(out, offset, NDP_OPTION_TARGET_LLA, options.targetLinkLayerAddress);
  }
  for (const o of options.other) {
    out[offset] = o.type;
    out[offset + 1] = (o.body.length + 2) / NDP_OPTION_UNIT;
    out.set(o.body, offset + 2);
    offset += o.body.length + 2;
  }
}

/** Writes type, code, flags and target (the checksum field stays zero). */
function writeFixedPart(icmp: Uint8Array, message: NdpMessage, code: number): void {
  if (message.target.length !== IPV6_LENGTH) throw new RangeError('NDP target must be 16 bytes');
  if (message.kind === 'ns') {
    icmp[0] = ICMPV6_NEIGHBOR_SOLICITATION;
  } else {
    icmp[0] = ICMPV6_NEIGHBOR_ADVERTISEMENT;
    icmp[4] =
      (message.router ? FLAG_ROUTER : 0) |
      (message.solicited ? FLAG_SOLICITED : 0) |
      (message.override ? FLAG_OVERRIDE : 0);
  }
  icmp[1] = code;
  icmp.set(message.target, TARGET_OFFSET);
}

/** The ICMPv6 bytes of `message`, checksum computed for the given IPv6 source and destination. */
export function encodeNdp(src: Uint8Array, dst: Uint8Array, message: NdpMessage): Uint8Array {
  const icmp = new Uint8Array(NDP_MIN_LENGTH + optionsLength(message.options));
  writeFixedPart(icmp, message, 0);
  writeOptions(icmp, NDP_MIN_LENGTH, message.options);
  fillIcmpv6Checksum(src, dst, icmp);
  return icmp;
}

function buildFrame(
  srcMac: Uint8Array,
  dstMac: Uint8Array,
  srcIp: Uint8Array,
  dstIp: Uint8Array,
  hopLimit: number,
  vlan: VlanTag | undefined,
  message: NdpMessage,
  code: number,
  rawOptions: Uint8Array | undefined,
): Uint8Array {
  const icmpLength = NDP_MIN_LENGTH + (rawOptions?.length ?? optionsLength(message.options));
  const ipOffset = ethernetHeaderLength(vlan);
  const icmpOffset = ipOffset + IPV6_HEADER_LENGTH;
  const out = allocFrame(icmpOffset + icmpLength);
  writeEthernetHeader(out, dstMac, srcMac, ETHERTYPE_IPV6, vlan);
  writeIpv6Header(
    out,
    ipOffset,
    { trafficClass: 0, flowLabel: 0, nextHeader: NEXT_HEADER_ICMPV6, hopLimit, src: srcIp, dst: dstIp },
    icmpLength,
  );
  const icmp = view(out, icmpOffset, out.length);
  writeFixedPart(icmp, message, code);
  if (rawOptions !== undefined) icmp.set(rawOptions, NDP_MIN_LENGTH);
  else writeOptions(icmp, NDP_MIN_LENGTH, message.options);
  fillIcmpv6Checksum(srcIp, dstIp, icmp);
  return out;
}

export interface NdpFrameParams {
  srcMac: Uint8Array;
  dstMac: Uint8Array;
  srcIp: Uint8Array;
  dstIp: Uint8Array;
  message: NdpMessage;
  /** Default 255 (RFC 4861 §7.1); anything else is only useful to test receivers. */
  hopLimit?: number;
  vlan?: VlanTag;
}

/** Any NS or NA as a complete Ethernet frame, in one allocation. */
export function ndpFrame(p: NdpFrameParams): Uint8Array {
  return buildFrame(p.srcMac, p.dstMac, p.srcIp, p.dstIp, p.hopLimit ?? NDP_HOP_LIMIT, p.vlan, p.message, 0, undefined);
}

export interface SolicitedNaParams {
  /** Our interface MAC: Ethernet source and the Target Link-Layer Address option. */
  srcMac: Uint8Array;
  /** The solicitor's MAC: its source link-layer address option, else the frame's source. */
  dstMac: Uint8Array;
  /**
   * RFC 4861 §7.2.4: "the Source Address ... is an address assigned to the interface from which
   * the advertisement is sent": our link-local address or the VIP (the target) itself.
   */
  srcIp: Uint8Array;
  /** The solicitation's source address. Must not be :: (see unsolicitedNeighborAdvertisementFrame). */
  dstIp: Uint8Array;
  target: Uint8Array;
  /** RFC 4861 §7.2.4: SHOULD be 1 unless the target is anycast or proxied; MetalLB sends 0. */
  override: boolean;
  router?: boolean;
  vlan?: VlanTag;
}

/**
 * RFC 4861 §7.2.4: the answer to an NS with a unicast source: S=1, unicast to the solicitor,
 * always with the Target Link-Layer Address option (required when the NS was multicast). An NS
 * from :: (DAD) is answered with unsolicitedNeighborAdvertisementFrame instead: S=0, to ff02::1.
 */
export function solicitedNeighborAdvertisementFrame(p: SolicitedNaParams): Uint8Array {
  const message: NeighborAdvertisement = {
    kind: 'na',
    router: p.router ?? false,
    solicited: true,
    override: p.override,
    target: p.target,
    options: { targetLinkLayerAddress: p.srcMac, other: NO_OTHER_OPTIONS },
  };
  return buildFrame(p.srcMac, p.dstMac, p.srcIp, p.dstIp, NDP_HOP_LIMIT, p.vlan, message, 0, undefined);
}

export interface UnsolicitedNaParams {
  srcMac: Uint8Array;
  /** Our link-local address or the VIP itself (RFC 4861 §7.2.6 leaves it to the sender). */
  srcIp: Uint8Array;
  target: Uint8Array;
  router?: boolean;
  vlan?: VlanTag;
}

/**
 * RFC 4861 §7.2.6: announces a (new) link-layer address for `target` to all nodes (ff02::1,
 * 33:33:00:00:00:01): S=0, O=1 so that caches replace the old MAC, Target Link-Layer Address
 * option with our MAC, hop limit 255.
 */
export function unsolicitedNeighborAdvertisementFrame(p: UnsolicitedNaParams): Uint8Array {
  const message: NeighborAdvertisement = {
    kind: 'na',
    router: p.router ?? false,
    solicited: false,
    override: true,
    target: p.target,
    options: { targetLinkLayerAddress: p.srcMac, other: NO_OTHER_OPTIONS },
  };
  return buildFrame(p.srcMac, ALL_NODES_MAC, p.srcIp, ALL_NODES, NDP_HOP_LIMIT, p.vlan, message, 0, undefined);
}

export interface NeighborSolicitationParams {
  srcMac: Uint8Array;
  /** :: for a DAD probe (RFC 4862 §5.4.2). */
  srcIp: Uint8Array;
  target: Uint8Array;
  /** Default: the target's solicited-node address (RFC 4861 §7.2.2); unicast for NUD. */
  dstIp?: Uint8Array;
  /** Default: RFC 2464 §7 mapping of a multicast dstIp; required for a unicast dstIp. */
  dstMac?: Uint8Array;
  /**
   * Default: a source link-layer address option with srcMac, none from :: (RFC 4861 §4.3).
   * Raw bytes are written verbatim after the target, for malformed variants in tests.
   */
  options?: NdpOptions | Uint8Array;
  /** Default 255. */
  hopLimit?: number;
  /** Default 0. */
  code?: number;
  vlan?: VlanTag;
}

/** A Neighbor Solicitation frame (RFC 4861 §4.3, §7.2.2): address resolution, NUD or DAD. */
export function neighborSolicitationFrame(p: NeighborSolicitationParams): Uint8Array {
  const dstIp = p.dstIp ?? solicitedNodeAddress(p.target);
  let dstMac = p.dstMac;
  if (dstMac === undefined) {
    if (!isIpv6Multicast(dstIp)) throw new RangeError('dstMac is required for a unicast destination');
    dstMac = ipv6MulticastMac(dstIp);
  }
  const options: NdpOptions | Uint8Array = p.options ?? {
    sourceLinkLayerAddress: isUnspecified(p.srcIp) ? undefined : p.srcMac,
    other: NO_OTHER_OPTIONS,
  };
  const raw = options instanceof Uint8Array ? options : undefined;
  const message: NeighborSolicitation = {
    kind: 'ns',
    target: p.target,
    options: options instanceof Uint8Array ? { other: NO_OTHER_OPTIONS } : options,
  };
  return buildFrame(p.srcMac, dstMac, p.srcIp, dstIp, p.hopLimit ?? NDP_HOP_LIMIT, p.vlan, message, p.code ?? 0, raw);
}
