import { BPF_ABS, BPF_H, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET } from '../../src/netdev/bpf.js';
import type { BpfInstruction } from '../../src/netdev/native.js';
import { ARP_OP_REPLY } from '../../src/packet/arp.js';
import { ETHERTYPE_ARP } from '../../src/packet/ethernet.js';

// RFC 826 offsets in an untagged Ethernet frame: ethertype at 12 (IEEE 802.3 §3.1.1), ARP from
// 14: operation at +6, sender MAC at +8, sender IP at +14, target MAC at +18, target IP at +24.
export const OFFSET_ETHERTYPE = 12;
export const OFFSET_ARP_OP = 14 + 6;
export const OFFSET_SENDER_MAC = 14 + 8;
export const OFFSET_SENDER_IP = 14 + 14;
export const OFFSET_TARGET_MAC = 14 + 18;
export const OFFSET_TARGET_IP = 14 + 24;

/** Only ARP replies reach JavaScript (answers to probes, and the reply form of gratuitous ARP). */
export const ARP_REPLY_FILTER: readonly BpfInstruction[] = [
  { code: BPF_LD | BPF_H | BPF_ABS, jt: 0, jf: 0, k: OFFSET_ETHERTYPE },
  { code: BPF_JMP | BPF_JEQ | BPF_K, jt: 0, jf: 3, k: ETHERTYPE_ARP },
  { code: BPF_LD | BPF_H | BPF_ABS, jt: 0, jf: 0, k: OFFSET_ARP_OP },
  { code: BPF_JMP | BPF_JEQ | BPF_K, jt: 0, jf: 1, k: ARP_OP_REPLY },
  { code: BPF_RET | BPF_K, jt: 0, jf: 0, k: 0xffff_ffff },
  { code: BPF_RET | BPF_K, jt: 0, jf: 0, k: 0 },
];
