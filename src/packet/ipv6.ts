/**
 * The IPv6 fixed header (RFC 8200 §3). Addresses are 16-byte Uint8Arrays; decoded addresses and
 * payload are views into the input buffer, not copies. Exported constants are shared: never
 * mutate them.
 */
import { readU16, view, writeU16 } from './bytes.js';
import { dropped, type DecodeResult } from './drop-reason.js';

/** RFC 8200 §3: the fixed header is 40 octets. */
export const IPV6_HEADER_LENGTH = 40;
export const IPV6_LENGTH = 16;
/** RFC 4443 §1 / IANA Protocol Numbers: ICMPv6 is next header 58. */
export const NEXT_HEADER_ICMPV6 = 58;

/** RFC 4291 §2.7.1: all-nodes multicast, link-local scope, ff02::1. */
export const ALL_NODES: Uint8Array = new Uint8Array([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
/** RFC 4291 §2.5.2: the unspecified address ::. */
export const UNSPECIFIED: Uint8Array = new Uint8Array(IPV6_LENGTH);

export interface Ipv6Header {
  /** 8 bits. */
  trafficClass: number;
  /** 20 bits. */
  flowLabel: number;
  /** Octets after the fixed header (RFC 8200 §3), extension headers included. */
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  src: Uint8Array;
  dst: Uint8Array;
}

export interface Ipv6Packet extends Ipv6Header {
  /** Exactly `payloadLength` bytes: Ethernet padding after it is cut off. */
  payload: Uint8Array;
}

/** What encoding needs: the payload length comes from the payload itself. */
export type Ipv6HeaderFields = Omit<Ipv6Header, 'payloadLength'>;

const TRUNCATED = dropped('truncated', 'shorter than the 40-byte IPv6 header');
const VERSION = dropped('bad-ip-version', 'IPv6 version field is not 6');
const PAYLOAD_LENGTH = dropped('bad-length', 'IPv6 payload length exceeds the bytes present');

/**
 * Decodes the fixed header and cuts the payload to its stated length (RFC 8200 §3). Bytes after
 * it are allowed (Ethernet pads frames to 60 bytes); fewer than stated are a drop. Extension
 * headers are not walked: `nextHeader` is the first one.
 */
export function decodeIpv6(bytes: Uint8Array): DecodeResult<Ipv6Packet> {
  if (bytes.length < IPV6_HEADER_LENGTH) return TRUNCATED;
  const b0 = bytes[0]!;
  if (b0 >>> 4 !== 6) return VERSION;
  const payloadLength = readU16(bytes, 4);
  if (IPV6_HEADER_LENGTH + payloadLength > bytes.length) return PAYLOAD_LENGTH;
  const b1 = bytes[1]!;
  return {
    ok: true,
    value: {
      // RFC 8200 §3: version (4) | traffic class (8) | flow label (20).
      trafficClass: ((b0 & 0x0f) << 4) | (b1 >>> 4),
      flowLabel: ((b1 & 0x0f) << 16) | readU16(bytes, 2),
      payloadLength,
      nextHeader: bytes[6]!,
      hopLimit: bytes[7]!,
      src: view(bytes, 8, 24),
      dst: view(bytes, 24, 40),
      payload: view(bytes, IPV6_HEADER_LENGTH, IPV6_HEADER_LENGTH + payloadLength),
    },
  };
}

/** Writes the 40-byte fixed header at `offset` of `out`. */
export function writeIpv6Header(
  out: Uint8Array,
  offset: number,
  header: Ipv6HeaderFields,
  payloadLength: number,
): void {
  if (header.src.length !== IPV6_LENGTH || header.dst.length !== IPV6_LENGTH) {
    throw new RangeError('IPv6 addresses must be 16 bytes');
  }
  if (payloadLength > 0xffff) throw new RangeError('IPv6 payload longer than 65535 bytes');
  const tc = header.trafficClass & 0xff;
  const fl = header.flowLabel & 0xfffff;
  out[offset] = 0x60 | (tc >>> 4);
  out[offset + 1] = ((tc & 0x0f) << 4) | (fl >>> 16);
  writeU16(out, offset + 2, fl & 0xffff);
  writeU16(out, offset + 4, payloadLength);
  out[offset + 6] = header.nextHeader;
  out[offset + 7] = header.hopLimit;
  out.set(header.src, offset + 8);
  out.set(header.dst, offset + 24);
}

export function encodeIpv6(header: Ipv6HeaderFields, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(IPV6_HEADER_LENGTH + payload.length);
  writeIpv6Header(out, 0, header, payload.length);
  out.set(payload, IPV6_HEADER_LENGTH);
  return out;
}

/** RFC 4291 §2.5.2. */
export function isUnspecified(ip: Uint8Array): boolean {
  for (let i = 0; i < IPV6_LENGTH; i++) if (ip[i] !== 0) return false;
  return true;
}

/** RFC 4291 §2.7: multicast addresses are ff00::/8. */
export function isIpv6Multicast(ip: Uint8Array): boolean {
  return ip[0] === 0xff;
}

/** RFC 4291 §2.7.1: solicited-node addresses are ff02:0:0:0:0:1:ff00::/104. */
export function isSolicitedNodeMulticast(ip: Uint8Array): boolean {
  return (
    ip[0] === 0xff &&
    ip[1] === 0x02 &&
    ip[2] === 0 &&
    ip[3] === 0 &&
    ip[4] === 0 &&
    ip[5] === 0 &&
    ip[6] === 0 &&
    ip[7] === 0 &&
    ip[8] === 0 &&
    ip[9] === 0 &&
    ip[10] === 0 &&
    ip[11] === 0x01 &&
    ip[12] === 0xff
  );
}

/** RFC 4291 §2.7.1: ff02::1:ffXX:XXXX, the low 24 bits taken from `ip`. */
export function solicitedNodeAddress(ip: Uint8Array): Uint8Array {
  const out = new Uint8Array(IPV6_LENGTH);
  out[0] = 0xff;
  out[1] = 0x02;
  out[11] = 0x01;
  out[12] = 0xff;
  out[13] = ip[13]!;
  out[14] = ip[14]!;
  out[15] = ip[15]!;
  return out;
}

export function ipv6Equals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== IPV6_LENGTH || b.length !== IPV6_LENGTH) return false;
  for (let i = 0; i < IPV6_LENGTH; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * RFC 8200 §4 and the IANA "IPv6 Extension Header Types" registry (RFC 7045): Hop-by-Hop (0),
 * Routing (43), Fragment (44), ESP (50), AH (51), Destination Options (60), Mobility (135),
 * HIP (139), Shim6 (140), experimental (253, 254).
 */
export function isIpv6ExtensionHeader(nextHeader: number): boolean {
  switch (nextHeader) {
    case 0:
    case 43:
    case 44:
    case 50:
    case 51:
    case 60:
    case 135:
    case 139:
    case 140:
    case 253:
    case 254:
      return true;
    default:
      return false;
  }
}
