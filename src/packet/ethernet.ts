/**
 * Ethernet II frames (without FCS, as AF_PACKET delivers and takes them), with at most one
 * IEEE 802.1Q tag. Decoded fields are views into the input buffer, not copies: copy them before
 * the buffer is reused.
 */
import { readU16, view, writeU16 } from './bytes.js';
import { dropped, type DecodeResult } from './drop-reason.js';
import { allocFrame } from './frame-allocator.js';
import { MAC_LENGTH } from './mac.js';

/** RFC 894 / IANA IEEE 802 Numbers: IPv4. */
export const ETHERTYPE_IPV4 = 0x0800;
/** RFC 826 / IANA IEEE 802 Numbers: ARP. */
export const ETHERTYPE_ARP = 0x0806;
/** RFC 2464 §3: IPv6 over Ethernet. */
export const ETHERTYPE_IPV6 = 0x86dd;
/** IEEE 802.1Q-2022 §9.5 (Table 9-1): C-VLAN tag protocol identifier. */
export const ETHERTYPE_VLAN = 0x8100;
/** IEEE 802.1Q-2022 §9.5 (Table 9-1, formerly 802.1ad): S-VLAN tag, i.e. QinQ outer tag. */
export const ETHERTYPE_QINQ = 0x88a8;
/** IEEE 802.3-2022 §3.2.6: Length/Type values of 1536 (0x0600) and above are EtherTypes. */
export const ETHERTYPE_MIN = 0x0600;

/** IEEE 802.3 §3.1.1: destination (6) + source (6) + Length/Type (2). */
export const ETHERNET_HEADER_LENGTH = 14;
/** IEEE 802.1Q-2022 §9.3: TPID (2) + TCI (2). */
export const VLAN_TAG_LENGTH = 4;
/**
 * IEEE 802.3 §4.4.2: minFrameSize is 64 octets including the 4-octet FCS, so 60 without it
 * (Linux ETH_ZLEN). Short frames are padded with zeros (§3.2.8 Pad field).
 */
export const ETHERNET_MIN_FRAME_LENGTH = 60;

/** IEEE 802.1Q-2022 §9.6: the Tag Control Information of a C-tag. */
export interface VlanTag {
  /** Priority Code Point, 0..7. */
  pcp: number;
  /** Drop Eligible Indicator. */
  dei: boolean;
  /** VLAN identifier, 0..4095 (0: priority tag only; 4095 reserved). */
  vid: number;
}

export interface EthernetFrame {
  dst: Uint8Array;
  src: Uint8Array;
  vlan?: VlanTag | undefined;
  /** The EtherType of the payload (the inner one for tagged frames). */
  etherType: number;
  /** Everything after the header, including any trailing Ethernet padding. */
  payload: Uint8Array;
}

const TRUNCATED_HEADER = dropped('truncated', 'shorter than the 14-byte Ethernet header');
const TRUNCATED_TAG = dropped('truncated', 'shorter than the 18-byte 802.1Q-tagged header');
const QINQ = dropped('unsupported-vlan-tag', 'S-tag (0x88a8) outer VLAN tag');
const STACKED = dropped('unsupported-vlan-tag', 'second VLAN tag inside an 802.1Q tag');
const LENGTH_FIELD = dropped('unsupported-ethertype', '802.3 length field (LLC frame), not an EtherType');

export function decodeEthernet(bytes: Uint8Array): DecodeResult<EthernetFrame> {
  if (bytes.length < ETHERNET_HEADER_LENGTH) return TRUNCATED_HEADER;
  let etherType = readU16(bytes, 12);
  let vlan: VlanTag | undefined;
  let offset = ETHERNET_HEADER_LENGTH;
  if (etherType === ETHERTYPE_VLAN) {
    if (bytes.length < ETHERNET_HEADER_LENGTH + VLAN_TAG_LENGTH) return TRUNCATED_TAG;
    const tci = readU16(bytes, 14);
    // IEEE 802.1Q-2022 §9.6: TCI = PCP (3 bits) | DEI (1 bit) | VID (12 bits).
    vlan = { pcp: tci >>> 13, dei: (tci & 0x1000) !== 0, vid: tci & 0x0fff };
    etherType = readU16(bytes, 16);
    offset += VLAN_TAG_LENGTH;
    if (etherType === ETHERTYPE_VLAN || etherType === ETHERTYPE_QINQ) return STACKED;
  } else if (etherType === ETHERTYPE_QINQ) {
    return QINQ;
  }
  if (etherType < ETHERTYPE_MIN) return LENGTH_FIELD;
  return {
    ok: true,
    value: {
      dst: view(bytes, 0, MAC_LENGTH),
      src: view(bytes, MAC_LENGTH, 2 * MAC_LENGTH),
      vlan,
      etherType,
      payload: view(bytes, offset, bytes.length),
    },
  };
}

/** Header length for a frame with or without a tag. */
export function ethernetHeaderLength(vlan: VlanTag | undefined): number {
  return vlan === undefined ? ETHERNET_HEADER_LENGTH : ETHERNET_HEADER_LENGTH + VLAN_TAG_LENGTH;
}

/**
 * Writes the Ethernet header (and 802.1Q tag) at the start of `out`; returns the payload offset.
 * Frame builders use it to lay out a whole frame in one allocation.
 */
export function writeEthernetHeader(
  out: Uint8Array,
  dst: Uint8Array,
  src: Uint8Array,
  etherType: number,
  vlan?: VlanTag,
): number {
  if (dst.length !== MAC_LENGTH || src.length !== MAC_LENGTH) {
    throw new RangeError('Ethernet addresses must be 6 bytes');
  }
  out.set(dst, 0);
  out.set(src, MAC_LENGTH);
  if (vlan === undefined) {
    writeU16(out, 12, etherType);
    return ETHERNET_HEADER_LENGTH;
  }
  writeU16(out, 12, ETHERTYPE_VLAN);
  writeU16(out, 14, ((vlan.pcp & 0x7) << 13) | (vlan.dei ? 0x1000 : 0) | (vlan.vid & 0x0fff));
  writeU16(out, 16, etherType);
  return ETHERNET_HEADER_LENGTH + VLAN_TAG_LENGTH;
}

/**
 * Encodes a frame as is: no padding to the 60-byte minimum, so that decode(encode(x)) is x.
 * Builders of short frames (ARP) pad themselves.
 */
export function encodeEthernet(frame: EthernetFrame): Uint8Array {
  const headerLength = ethernetHeaderLength(frame.vlan);
  const out = allocFrame(headerLength + frame.payload.length);
  writeEthernetHeader(out, frame.dst, frame.src, frame.etherType, frame.vlan);
  out.set(frame.payload, headerLength);
  return out;
}
