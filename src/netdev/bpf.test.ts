import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  arpAndNdpFilter,
  BPF_ABS,
  BPF_B,
  BPF_H,
  BPF_JEQ,
  BPF_JMP,
  BPF_K,
  BPF_LD,
  BPF_RET,
  BPF_W,
  SKF_AD_OFF,
  SKF_AD_VLAN_TAG_PRESENT,
} from './bpf.js';
import type { BpfInstruction } from './native.js';

/**
 * Classic BPF as the kernel runs it on a packet socket (net/core/filter.c), for the instructions
 * our programs use: absolute loads (out of bounds ends the program with 0, i.e. drop), the VLAN
 * ancillary load, jeq with a constant, ret with a constant.
 */
function runBpf(program: readonly BpfInstruction[], frame: Uint8Array, meta: { vlanTagPresent?: boolean } = {}): number {
  let a = 0;
  for (let pc = 0, steps = 0; pc < program.length && steps < 4096; pc++, steps++) {
    const { code, jt, jf, k } = program[pc]!;
    switch (code) {
      case BPF_LD | BPF_W | BPF_ABS:
      case BPF_LD | BPF_H | BPF_ABS:
      case BPF_LD | BPF_B | BPF_ABS: {
        if (k === SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT && code === (BPF_LD | BPF_W | BPF_ABS)) {
          a = meta.vlanTagPresent === true ? 1 : 0;
          break;
        }
        const size = code === (BPF_LD | BPF_W | BPF_ABS) ? 4 : code === (BPF_LD | BPF_H | BPF_ABS) ? 2 : 1;
        if (k < 0 || k + size > frame.length) return 0;
        a = 0;
        for (let i = 0; i < size; i++) a = (a << 8) | frame[k + i]!;
        a >>>= 0;
        break;
      }
      case BPF_JMP | BPF_JEQ | BPF_K:
        pc += a === k >>> 0 ? jt : jf;
        break;
      case BPF_RET | BPF_K:
        return k >>> 0;
      default:
        throw new Error(`instruction ${pc}: opcode 0x${code.toString(16)} not supported by this interpreter`);
    }
  }
  throw new Error('fell off the end of the program');
}

const accepts = (program: readonly BpfInstruction[], frame: Uint8Array, meta?: { vlanTagPresent?: boolean }): boolean =>
  runBpf(program, frame, meta) > 0;

function ethernet(ethertype: number, payload: readonly number[]): Uint8Array {
  return Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, ethertype >> 8, ethertype & 0xff, ...payload]);
}

/** An ARP request (RFC 826), 28 bytes after the Ethernet header. */
const ARP = [0, 1, 0x08, 0x00, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2];

/** An IPv6 header (RFC 8200 §3) with next header `next`, then `payload`. */
function ipv6(next: number, payload: readonly number[]): number[] {
  const src = [0xfe, 0x80, ...Array<number>(13).fill(0), 1];
  const dst = [0xff, 0x02, ...Array<number>(9).fill(0), 1, 0xff, 0, 0, 2];
  return [0x60, 0, 0, 0, 0, payload.length, next, 255, ...src, ...dst, ...payload];
}

const icmpv6 = (type: number): number[] => [type, 0, 0, 0, 0, 0, 0, 0, ...Array<number>(16).fill(0)];
const IPV4_UDP = [0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0, 53, 0, 53, 0, 8, 0, 0];

describe('arpAndNdpFilter', () => {
  const filter = arpAndNdpFilter();

  it('accepts ARP', () => {
    expect(accepts(filter, ethernet(0x0806, ARP))).toBe(true);
  });

  it('accepts ICMPv6 Neighbor Solicitations', () => {
    expect(accepts(filter, ethernet(0x86dd, ipv6(58, icmpv6(135))))).toBe(true);
  });

  it('drops other ICMPv6 types unless asked for', () => {
    const na = ethernet(0x86dd, ipv6(58, icmpv6(136)));
    expect(accepts(filter, na)).toBe(false);
    expect(accepts(filter, ethernet(0x86dd, ipv6(58, icmpv6(128))))).toBe(false);
    const withNa = arpAndNdpFilter({ icmpv6Types: [135, 136] });
    expect(accepts(withNa, na)).toBe(true);
    expect(accepts(withNa, ethernet(0x86dd, ipv6(58, icmpv6(135))))).toBe(true);
    expect(accepts(withNa, ethernet(0x86dd, ipv6(58, icmpv6(128))))).toBe(false);
  });

  it('drops IPv4, IPv6 UDP and ICMPv6 behind an extension header', () => {
    expect(accepts(filter, ethernet(0x0800, IPV4_UDP))).toBe(false);
    expect(accepts(filter, ethernet(0x86dd, ipv6(17, [0, 53, 0, 53, 0, 8, 0, 0])))).toBe(false);
    // Hop-by-hop options (next header 0) in front of the ICMPv6 message.
    expect(accepts(filter, ethernet(0x86dd, ipv6(0, [58, 0, 1, 4, 0, 0, 0, 0, ...icmpv6(135)])))).toBe(false);
  });

  it('drops frames whose 802.1Q tag the kernel moved to metadata, and in-frame tagged ones', () => {
    expect(accepts(filter, ethernet(0x0806, ARP), { vlanTagPresent: true })).toBe(false);
    const tagged = ethernet(0x8100, [0x00, 0x0a, 0x08, 0x06, ...ARP]);
    expect(accepts(filter, tagged)).toBe(false);
  });

  it('drops frames too short to hold the fields it reads', () => {
    expect(accepts(filter, ethernet(0x86dd, [0x60, 0, 0]))).toBe(false);
    expect(accepts(filter, Uint8Array.of(1, 2, 3))).toBe(false);
    expect(accepts(filter, new Uint8Array(0))).toBe(false);
  });

  it('is a well-formed program: forward jumps in range, ending in returns', () => {
    for (const program of [filter, arpAndNdpFilter({ icmpv6Types: [133, 134, 135, 136, 137] })]) {
      program.forEach((insn, pc) => {
        if ((insn.code & 0x07) === BPF_JMP) {
          expect(pc + 1 + insn.jt).toBeLessThan(program.length);
          expect(pc + 1 + insn.jf).toBeLessThan(program.length);
        }
      });
      expect(program.at(-1)!.code).toBe(BPF_RET | BPF_K);
    }
  });

  it('rejects an empty or out-of-range type list', () => {
    expect(() => arpAndNdpFilter({ icmpv6Types: [] })).toThrow(RangeError);
    expect(() => arpAndNdpFilter({ icmpv6Types: [256] })).toThrow(RangeError);
  });

  it('agrees with a plain reading of the rule on random frames', () => {
    const frames = fc.oneof(
      fc.uint8Array({ maxLength: 80 }),
      // Mostly plausible frames, so every branch is reached.
      fc
        .record({
          ethertype: fc.constantFrom(0x0806, 0x86dd, 0x0800, 0x8100),
          next: fc.constantFrom(58, 17, 0),
          type: fc.constantFrom(135, 136, 1),
          tail: fc.uint8Array({ maxLength: 40 }),
        })
        .map(({ ethertype, next, type, tail }) => ethernet(ethertype, ipv6(next, [type, ...tail]))),
    );
    fc.assert(
      fc.property(frames, fc.boolean(), (frame, tagged) => {
        const ethertype = frame.length >= 14 ? (frame[12]! << 8) | frame[13]! : -1;
        const expected =
          !tagged &&
          (ethertype === 0x0806 || (ethertype === 0x86dd && frame.length > 54 && frame[20] === 58 && frame[54] === 135));
        expect(accepts(filter, frame, { vlanTagPresent: tagged })).toBe(expected);
      }),
    );
  });
});
