import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRng, mutateFrame, randomFrame } from '../../bench/fuzz-frames.js';
import {
  ARP_OP_REPLY,
  ARP_OP_REQUEST,
  arpFrame,
  arpReply,
  decodeArp,
  encodeArp,
  gratuitousArp,
  type ArpPacket,
} from './arp.js';
import { decodeEthernet, ETHERTYPE_ARP } from './ethernet.js';
import { hex } from '../../test/helpers/bytes.js';

function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

const mac = fc.uint8Array({ minLength: 6, maxLength: 6 });
const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const arpPacket: fc.Arbitrary<ArpPacket> = fc.record({
  op: fc.constantFrom(ARP_OP_REQUEST, ARP_OP_REPLY),
  senderMac: mac,
  senderIp: ipv4,
  targetMac: mac,
  targetIp: ipv4,
});

/**
 * "who-has 192.168.0.10 tell 192.168.0.1" from 00:11:22:33:44:55, broadcast, padded to 60 bytes
 * as a NIC sends it. tcpdump -vvv -e reads it as: "Ethernet (len 6), IPv4 (len 4), Request
 * who-has 192.168.0.10 tell 192.168.0.1, length 46".
 */
const ARP_REQUEST_FRAME = hex(`
  ffffffffffff 001122334455 0806
  0001 0800 06 04 0001 001122334455 c0a80001 000000000000 c0a8000a
  000000000000000000000000000000000000`);

const OUR_MAC = hex('020000000001');

describe('ARP codec', () => {
  it('decode(encode(x)) is x', () => {
    fc.assert(
      fc.property(arpPacket, (p) => {
        expect(decodeArp(encodeArp(p))).toEqual({ ok: true, value: p });
      }),
    );
  });

  it('decodes a captured request, padding ignored (known answer)', () => {
    const eth = decodeEthernet(ARP_REQUEST_FRAME);
    if (!eth.ok) throw new Error(eth.reason);
    expect(eth.value.etherType).toBe(ETHERTYPE_ARP);
    expect(decodeArp(eth.value.payload)).toEqual({
      ok: true,
      value: {
        op: ARP_OP_REQUEST,
        senderMac: hex('001122334455'),
        senderIp: hex('c0a80001'),
        targetMac: hex('000000000000'),
        targetIp: hex('c0a8000a'),
      },
    });
  });

  it('builds the reply frame: unicast to the requester, our MAC as sender, padded to 60 bytes', () => {
    const eth = decodeEthernet(ARP_REQUEST_FRAME);
    if (!eth.ok) throw new Error(eth.reason);
    const request = decodeArp(eth.value.payload);
    if (!request.ok) throw new Error(request.reason);
    const frame = arpFrame(arpReply(request.value, OUR_MAC));
    expect(toHex(frame)).toBe(
      '001122334455' + '020000000001' + '0806' +
        '0001' + '0800' + '06' + '04' + '0002' + '020000000001' + 'c0a8000a' + '001122334455' + 'c0a80001' +
        '00'.repeat(18),
    );
  });

  it('builds gratuitous ARP as MetalLB does: sender IP = target IP, target MAC broadcast, to broadcast', () => {
    const ip = hex('c0a8000a');
    const request = arpFrame(gratuitousArp(OUR_MAC, ip, 'request'));
    const reply = arpFrame(gratuitousArp(OUR_MAC, ip, 'reply'));
    const body = (op: string) => 'ffffffffffff020000000001' + '0806' + '000108000604' + op + '020000000001c0a8000a' + 'ffffffffffffc0a8000a';
    expect(toHex(request)).toBe(body('0001') + '00'.repeat(18));
    expect(toHex(reply)).toBe(body('0002') + '00'.repeat(18));
  });

  it('keeps a tagged frame at 60 bytes and carries the tag', () => {
    const frame = arpFrame(gratuitousArp(OUR_MAC, hex('0a000001'), 'request'), { vlan: { pcp: 0, dei: false, vid: 42 } });
    expect(frame.length).toBe(60);
    const eth = decodeEthernet(frame);
    expect(eth.ok && eth.value.vlan).toEqual({ pcp: 0, dei: false, vid: 42 });
  });

  it('frames decode back to the packet', () => {
    fc.assert(
      fc.property(arpPacket, (p) => {
        const eth = decodeEthernet(arpFrame(p));
        if (!eth.ok) throw new Error(eth.reason);
        expect(eth.value.payload.length).toBeGreaterThanOrEqual(46);
        expect(decodeArp(eth.value.payload)).toEqual({ ok: true, value: p });
      }),
    );
  });

  it('refuses addresses of the wrong size when encoding', () => {
    expect(() => encodeArp({ op: 1, senderMac: new Uint8Array(5), senderIp: new Uint8Array(4), targetMac: OUR_MAC, targetIp: new Uint8Array(4) })).toThrow(
      RangeError,
    );
  });

  it('never throws on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => void decodeArp(b)), { numRuns: 2000 });
  });

  it('never throws on mutated valid packets and frames', () => {
    const valid = fc.oneof(
      arpPacket.map(encodeArp),
      arpPacket.map((p) => arpFrame(p).subarray(14)),
      fc.integer().map((s) => randomFrame(createRng(s)).subarray(14)),
    );
    fc.assert(
      fc.property(valid, fc.integer(), (b, seed) => {
        void decodeArp(mutateFrame(createRng(seed), b));
      }),
      { numRuns: 2000 },
    );
  });
});
