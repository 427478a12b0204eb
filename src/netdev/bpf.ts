/**
 * Classic BPF programs for AF_PACKET sockets (linux/filter.h, Documentation/networking/filter.rst).
 * The kernel runs them on every received frame before it is queued, so frames we do not want
 * never cost a copy or a JavaScript call.
 */
import type { BpfInstruction } from './native.js';

// linux/bpf_common.h: instruction classes, sizes, modes, jump ops and sources.
export const BPF_LD = 0x00;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;
export const BPF_ABS = 0x20;
export const BPF_JEQ = 0x10;
export const BPF_K = 0x00;
// linux/filter.h: ancillary data is loaded from the negative offset SKF_AD_OFF = -0x1000 plus
// SKF_AD_VLAN_TAG_PRESENT = 48 (1 when the kernel moved an 802.1Q tag out of the frame).
export const SKF_AD_OFF = -0x1000;
export const SKF_AD_VLAN_TAG_PRESENT = 48;

// IEEE 802 numbers as registered with IANA: ARP 0x0806, IPv6 0x86dd.
const ETHERTYPE_ARP = 0x0806;
const ETHERTYPE_IPV6 = 0x86dd;
// IANA protocol numbers: ICMPv6 = 58 (RFC 4443).
const IPPROTO_ICMPV6 = 58;
// Offsets in an untagged Ethernet frame: ethertype at 12 (IEEE 802.3 §3.1.1), IPv6 header from 14,
// its Next Header at +6 and its fixed 40-byte length (RFC 8200 §3), then the ICMPv6 type (RFC 4443 §2.1).
const OFFSET_ETHERTYPE = 12;
const OFFSET_IPV6_NEXT_HEADER = 14 + 6;
const OFFSET_ICMPV6_TYPE = 14 + 40;
/** Accept: the whole frame (the kernel truncates the snapshot to min(k, length)). */
const ACCEPT_ALL = 0xffff_ffff;
const DROP = 0;

/** RFC 4861 §4.3: Neighbor Solicitation. */
export const ICMPV6_NEIGHBOR_SOLICITATION = 135;

export interface ArpAndNdpFilterOptions {
  /** ICMPv6 types to accept after a bare IPv6 header; default [135] (NS). Add 136 (NA) to see conflicts. */
  readonly icmpv6Types?: readonly number[];
}

/**
 * Accepts ARP frames and IPv6 frames carrying ICMPv6 of the given types directly after the
 * fixed header (no extension headers: RFC 4861 messages never have them in practice), drops
 * everything else.
 *
 * Frames that arrived with an 802.1Q tag are dropped too. Linux removes the outer tag before
 * packet sockets see a frame (net/core/dev.c __netif_receive_skb_core, skb_vlan_untag) and
 * keeps it only as metadata, so such a frame looks untagged here although it belongs to a VLAN
 * sub-interface; answering it untagged would answer on the wrong LAN. The sub-interface's own
 * socket still receives it, untagged and without the metadata. For the same reason an in-frame
 * 802.1Q tag is never visible at this point for singly tagged frames, so none is matched.
 */
export function arpAndNdpFilter(options: ArpAndNdpFilterOptions = {}): BpfInstruction[] {
  const types = options.icmpv6Types ?? [ICMPV6_NEIGHBOR_SOLICITATION];
  if (types.length === 0 || types.some((t) => !Number.isInteger(t) || t < 0 || t > 255)) {
    throw new RangeError(`icmpv6Types must be 1 or more integers in [0, 255], got [${types.join(', ')}]`);
  }
  return assemble([
    ld(BPF_W, SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT),
    jeq(0, NEXT, 'drop'),
    ld(BPF_H, OFFSET_ETHERTYPE),
    jeq(ETHERTYPE_ARP, 'accept', NEXT),
    jeq(ETHERTYPE_IPV6, NEXT, 'drop'),
    ld(BPF_B, OFFSET_IPV6_NEXT_HEADER),
    jeq(IPPROTO_ICMPV6, NEXT, 'drop'),
    ld(BPF_B, OFFSET_ICMPV6_TYPE),
    ...types.map((t, i) => jeq(t, 'accept', i === types.length - 1 ? 'drop' : NEXT)),
    label('accept'),
    ret(ACCEPT_ALL),
    label('drop'),
    ret(DROP),
  ]);
}

// A small assembler: jumps name labels, resolved to the relative offsets classic BPF wants.

const NEXT = Symbol('next instruction');
type Target = string | typeof NEXT;
type AsmItem =
  | { readonly code: number; readonly k: number; readonly jt?: Target; readonly jf?: Target }
  | { readonly label: string };

function ld(size: number, offset: number): AsmItem {
  return { code: BPF_LD | size | BPF_ABS, k: offset };
}
function jeq(k: number, jt: Target, jf: Target): AsmItem {
  return { code: BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf };
}
function ret(k: number): AsmItem {
  return { code: BPF_RET | BPF_K, k };
}
function label(name: string): AsmItem {
  return { label: name };
}

function assemble(items: readonly AsmItem[]): BpfInstruction[] {
  const labels = new Map<string, number>();
  let pc = 0;
  for (const item of items) {
    if ('label' in item) labels.set(item.label, pc);
    else pc++;
  }
  const program: BpfInstruction[] = [];
  for (const item of items) {
    if ('label' in item) continue;
    const here = program.length;
    const offset = (target: Target | undefined): number => {
      if (target === undefined || target === NEXT) return 0;
      const at = labels.get(target);
      // Classic BPF jumps only forward, by at most 255 instructions (jt/jf are u8).
      if (at === undefined || at <= here || at - here - 1 > 255) throw new Error(`bad BPF jump to ${target}`);
      return at - here - 1;
    };
    program.push({ code: item.code, jt: offset(item.jt), jf: offset(item.jf), k: item.k });
  }
  return program;
}
