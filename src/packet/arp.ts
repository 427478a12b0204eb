/**
 * ARP (RFC 826) for Ethernet hardware and IPv4 protocol addresses only. Decoded addresses are
 * views into the input buffer, not copies: copy them before the buffer is reused.
 */
import { readU16, view, writeU16 } from './bytes.js';
import { dropped, type DecodeResult } from './drop-reason.js';
import { allocFrame } from './frame-allocator.js';
import {
  ETHERNET_MIN_FRAME_LENGTH,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ethernetHeaderLength,
  writeEthernetHeader,
  type VlanTag,
} from './ethernet.js';
import { BROADCAST_MAC, MAC_LENGTH } from './mac.js';

/** RFC 826 ar$hrd; IANA ARP Parameters "Hardware Types": 1 = Ethernet. */
export const ARP_HTYPE_ETHERNET = 1;
/** RFC 826 ar$pro takes EtherType values: 0x0800 = IPv4 (RFC 894). */
export const ARP_PTYPE_IPV4 = ETHERTYPE_IPV4;
/** RFC 826 ar$op: ares_op$REQUEST. */
export const ARP_OP_REQUEST = 1;
/** RFC 826 ar$op: ares_op$REPLY. */
export const ARP_OP_REPLY = 2;
export const IPV4_LENGTH = 4;
/** RFC 826 packet: hrd(2) pro(2) hln(1) pln(1) op(2) sha(6) spa(4) tha(6) tpa(4) = 28 bytes. */
export const ARP_PACKET_LENGTH = 28;

export type ArpOp = typeof ARP_OP_REQUEST | typeof ARP_OP_REPLY;

export interface ArpPacket {
  op: ArpOp;
  senderMac: Uint8Array;
  senderIp: Uint8Array;
  targetMac: Uint8Array;
  targetIp: Uint8Array;
}

const TRUNCATED = dropped('truncated', 'shorter than the 28-byte Ethernet/IPv4 ARP packet');
// Linux (net/ipv4/arp.c arp_process) also accepts hardware type 6 (IEEE 802) on Ethernet; we
// follow MetalLB (mdlayher/arp) and accept Ethernet only.
const HARDWARE_TYPE = dropped('unsupported-hardware-type', 'ARP hardware type is not 1 (Ethernet)');
const PROTOCOL_TYPE = dropped('unsupported-protocol-type', 'ARP protocol type is not 0x0800 (IPv4)');
const ADDRESS_LENGTHS = dropped('bad-length', 'ARP hln/pln are not 6/4 for Ethernet/IPv4');
const OPERATION = dropped('unsupported-arp-op', 'ARP operation is neither request (1) nor reply (2)');

/** Decodes the ARP packet at the start of `bytes`; trailing bytes (Ethernet padding) are ignored. */
export function decodeArp(bytes: Uint8Array): DecodeResult<ArpPacket> {
  if (bytes.length < ARP_PACKET_LENGTH) return TRUNCATED;
  if (readU16(bytes, 0) !== ARP_HTYPE_ETHERNET) return HARDWARE_TYPE;
  if (readU16(bytes, 2) !== ARP_PTYPE_IPV4) return PROTOCOL_TYPE;
  if (bytes[4] !== MAC_LENGTH || bytes[5] !== IPV4_LENGTH) return ADDRESS_LENGTHS;
  const op = readU16(bytes, 6);
  if (op !== ARP_OP_REQUEST && op !== ARP_OP_REPLY) return OPERATION;
  return {
    ok: true,
    value: {
      op,
      senderMac: view(bytes, 8, 14),
      senderIp: view(bytes, 14, 18),
      targetMac: view(bytes, 18, 24),
      targetIp: view(bytes, 24, 28),
    },
  };
}

/** Writes the 28-byte packet at `offset` of `out`. */
export function writeArp(out: Uint8Array, offset: number, p: ArpPacket): void {
  if (
    p.senderMac.length !== MAC_LENGTH ||
    p.targetMac.length !== MAC_LENGTH ||
    p.senderIp.length !== IPV4_LENGTH ||
    p.targetIp.length !== IPV4_LENGTH
  ) {
    throw new RangeError('ARP addresses must be 6-byte MACs and 4-byte IPv4 addresses');
  }
  writeU16(out, offset, ARP_HTYPE_ETHERNET);
  writeU16(out, offset + 2, ARP_PTYPE_IPV4);
  out[offset + 4] = MAC_LENGTH;
  out[offset + 5] = IPV4_LENGTH;
  writeU16(out, offset + 6, p.op);
  out.set(p.senderMac, offset + 8);
  out.set(p.senderIp, offset + 14);
  out.set(p.targetMac, offset + 18);
  out.set(p.targetIp, offset + 24);
}

export function encodeArp(p: ArpPacket): Uint8Array {
  const out = new Uint8Array(ARP_PACKET_LENGTH);
  writeArp(out, 0, p);
  return out;
}

/**
 * RFC 826 "Packet Reception": swap sender and target, put our MAC and the requested IP in the
 * sender fields, set the opcode to reply. The result shares the request's views.
 */
export function arpReply(request: ArpPacket, ourMac: Uint8Array): ArpPacket {
  return {
    op: ARP_OP_REPLY,
    senderMac: ourMac,
    senderIp: request.targetIp,
    targetMac: request.senderMac,
    targetIp: request.senderIp,
  };
}

/**
 * An ARP announcement for `ip` (RFC 5227 §3: sender IP = target IP = the announced address).
 * As MetalLB does (internal/layer2/arp.go, Gratuitous), the target MAC is ff:ff:ff:ff:ff:ff and
 * both forms are sent, request then reply, since some hosts update their cache on only one.
 */
export function gratuitousArp(mac: Uint8Array, ip: Uint8Array, op: 'request' | 'reply'): ArpPacket {
  return {
    op: op === 'request' ? ARP_OP_REQUEST : ARP_OP_REPLY,
    senderMac: mac,
    senderIp: ip,
    targetMac: BROADCAST_MAC,
    targetIp: ip,
  };
}

export interface ArpFrameOptions {
  /** Ethernet destination; default: broadcast for requests, the target MAC for replies. */
  dst?: Uint8Array;
  /** Ethernet source; default: the sender MAC. */
  src?: Uint8Array;
  vlan?: VlanTag;
}

/**
 * The complete Ethernet frame carrying `packet`, padded with zeros to the 60-byte minimum
 * (IEEE 802.3 §4.4.2, without FCS), in one allocation.
 */
export function arpFrame(packet: ArpPacket, options?: ArpFrameOptions): Uint8Array {
  const vlan = options?.vlan;
  const dst = options?.dst ?? (packet.op === ARP_OP_REQUEST ? BROADCAST_MAC : packet.targetMac);
  const src = options?.src ?? packet.senderMac;
  const headerLength = ethernetHeaderLength(vlan);
  const out = allocFrame(Math.max(ETHERNET_MIN_FRAME_LENGTH, headerLength + ARP_PACKET_LENGTH));
  writeEthernetHeader(out, dst, src, ETHERTYPE_ARP, vlan);
  writeArp(out, headerLength, packet);
  return out;
}
