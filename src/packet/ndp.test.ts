import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRng, mutateFrame, randomFrame, refreshChecksum } from '../../bench/fuzz-frames.js';
import { decodeEthernet, ETHERTYPE_IPV6 } from './ethernet.js';
import { decodeIpv6, isIpv6Multicast, isUnspecified, UNSPECIFIED } from './ipv6.js';
import { macToString } from './mac.js';
import {
  decodeNdp,
  encodeNdp,
  ndpFrame,
  neighborSolicitationFrame,
  solicitedNeighborAdvertisementFrame,
  unsolicitedNeighborAdvertisementFrame,
  type NdpIpv6Fields,
  type NdpMessage,
  type NdpOptions,
  type NeighborAdvertisement,
  type NeighborSolicitation,
  type RawNdpOption,
} from './ndp.js';
import { hex, ip6, decodeNdpFrame } from '../../test/helpers/bytes.js';

function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

const mac = fc.uint8Array({ minLength: 6, maxLength: 6 });
const address = fc.uint8Array({ minLength: 16, maxLength: 16 });
const unicast = address.filter((a) => !isIpv6Multicast(a) && !isUnspecified(a));
const rawOption: fc.Arbitrary<RawNdpOption> = fc.record({
  type: fc.integer({ min: 3, max: 255 }),
  body: fc.integer({ min: 0, max: 3 }).chain((k) => fc.uint8Array({ minLength: 8 * k + 6, maxLength: 8 * k + 6 })),
});
const options: fc.Arbitrary<NdpOptions> = fc.record({
  sourceLinkLayerAddress: fc.option(mac, { nil: undefined }),
  targetLinkLayerAddress: fc.option(mac, { nil: undefined }),
  other: fc.array(rawOption, { maxLength: 3 }),
});
const ns: fc.Arbitrary<NeighborSolicitation> = fc.record({ kind: fc.constant('ns'), target: unicast, options });
const na: fc.Arbitrary<NeighborAdvertisement> = fc.record({
  kind: fc.constant('na'),
  router: fc.boolean(),
  solicited: fc.boolean(),
  override: fc.boolean(),
  target: unicast,
  options,
});
const message: fc.Arbitrary<NdpMessage> = fc.oneof(ns, na);

const CLIENT_MAC = hex('001122334455');
const CLIENT_IP = ip6('fe80::211:22ff:fe33:4455');
const OUR_MAC = hex('020000000001');
const VIP = ip6('2001:db8::a');

/**
 * Who has 2001:db8::a, from fe80::211:22ff:fe33:4455 (00:11:22:33:44:55) to the solicited-node
 * group ff02::1:ff00:a. tcpdump -vvv -e: "[icmp6 sum ok] ICMP6, neighbor solicitation, length 32,
 * who has 2001:db8::a / source link-address option (1), length 8 (1): 00:11:22:33:44:55".
 */
const NS_FRAME = hex(`
  3333ff00000a 001122334455 86dd
  60000000 0020 3a ff fe80000000000000021122fffe334455 ff0200000000000000000001ff00000a
  87 00 7f1e 00000000 20010db800000000000000000000000a 01 01 001122334455`);

/**
 * Its answer from the VIP itself, S=1 O=1, with our MAC in the target link-layer address option.
 * tcpdump -vvv -e: "[icmp6 sum ok] ICMP6, neighbor advertisement, length 32, tgt is 2001:db8::a,
 * Flags [solicited, override] / destination link-address option (2), length 8 (1): 02:00:00:00:00:01".
 */
const NA_FRAME = hex(`
  001122334455 020000000001 86dd
  60000000 0020 3a ff 20010db800000000000000000000000a fe80000000000000021122fffe334455
  88 00 5202 60000000 20010db800000000000000000000000a 02 01 020000000001`);

describe('NDP codec', () => {
  it('decode(encode(x)) is x for NS and NA with options', () => {
    fc.assert(
      fc.property(message, unicast, unicast, (m, src, dst) => {
        const ip: NdpIpv6Fields = { nextHeader: 58, hopLimit: 255, src, dst };
        expect(decodeNdp(ip, encodeNdp(src, dst, m))).toEqual({ ok: true, value: m });
      }),
    );
  });

  it('complete frames decode back to the message', () => {
    fc.assert(
      fc.property(message, mac, mac, unicast, unicast, (m, srcMac, dstMac, srcIp, dstIp) => {
        const frame = ndpFrame({ srcMac, dstMac, srcIp, dstIp, message: m, vlan: { pcp: 0, dei: false, vid: 7 } });
        expect(decodeNdpFrame(frame)).toEqual({ ok: true, value: m });
      }),
    );
  });

  it('decodes a captured Neighbor Solicitation (known answer)', () => {
    expect(decodeNdpFrame(NS_FRAME)).toEqual({
      ok: true,
      value: { kind: 'ns', target: VIP, options: { sourceLinkLayerAddress: CLIENT_MAC, other: [] } },
    });
  });

  it('builds that solicitation byte for byte', () => {
    expect(toHex(neighborSolicitationFrame({ srcMac: CLIENT_MAC, srcIp: CLIENT_IP, target: VIP }))).toBe(toHex(NS_FRAME));
  });

  it('builds the solicited advertisement byte for byte (known answer)', () => {
    const frame = solicitedNeighborAdvertisementFrame({
      srcMac: OUR_MAC,
      dstMac: CLIENT_MAC,
      srcIp: VIP,
      dstIp: CLIENT_IP,
      target: VIP,
      override: true,
    });
    expect(toHex(frame)).toBe(toHex(NA_FRAME));
  });

  it('builds the unsolicited advertisement of RFC 4861 §7.2.6: all-nodes, S=0, O=1, hop limit 255', () => {
    const linkLocal = ip6('fe80::1');
    const frame = unsolicitedNeighborAdvertisementFrame({ srcMac: OUR_MAC, srcIp: linkLocal, target: VIP });
    const eth = decodeEthernet(frame);
    if (!eth.ok) throw new Error(eth.reason);
    expect(macToString(eth.value.dst)).toBe('33:33:00:00:00:01');
    expect(eth.value.etherType).toBe(ETHERTYPE_IPV6);
    const ip = decodeIpv6(eth.value.payload);
    if (!ip.ok) throw new Error(ip.reason);
    expect(ip.value.dst).toEqual(ip6('ff02::1'));
    expect(ip.value.src).toEqual(linkLocal);
    expect(ip.value.hopLimit).toBe(255);
    expect(decodeNdp(ip.value, ip.value.payload)).toEqual({
      ok: true,
      value: { kind: 'na', router: false, solicited: false, override: true, target: VIP, options: { targetLinkLayerAddress: OUR_MAC, other: [] } },
    });
  });

  it('builds DAD probes from :: without a source link-layer address (RFC 4861 §4.3)', () => {
    const frame = neighborSolicitationFrame({ srcMac: CLIENT_MAC, srcIp: UNSPECIFIED, target: VIP });
    expect(macToString(frame.subarray(0, 6))).toBe('33:33:ff:00:00:0a');
    expect(decodeNdpFrame(frame)).toEqual({ ok: true, value: { kind: 'ns', target: VIP, options: { other: [] } } });
  });

  it('builds unicast NUD probes, which need an explicit destination MAC', () => {
    const frame = neighborSolicitationFrame({ srcMac: CLIENT_MAC, srcIp: CLIENT_IP, target: VIP, dstIp: VIP, dstMac: OUR_MAC });
    expect(decodeNdpFrame(frame)).toEqual({
      ok: true,
      value: { kind: 'ns', target: VIP, options: { sourceLinkLayerAddress: CLIENT_MAC, other: [] } },
    });
    expect(() => neighborSolicitationFrame({ srcMac: CLIENT_MAC, srcIp: CLIENT_IP, target: VIP, dstIp: VIP })).toThrow(RangeError);
  });

  it('keeps the first of duplicate link-layer options, like Linux, and other options raw in order', () => {
    const nonce = { type: 14, body: hex('0102030405 06') };
    const raw = hex('01 01 aaaaaaaaaaaa' + '0e 01 010203040506' + '01 01 bbbbbbbbbbbb' + 'c8 02 ' + '00'.repeat(14));
    const frame = neighborSolicitationFrame({ srcMac: CLIENT_MAC, srcIp: CLIENT_IP, target: VIP, options: raw });
    expect(decodeNdpFrame(frame)).toEqual({
      ok: true,
      value: {
        kind: 'ns',
        target: VIP,
        options: { sourceLinkLayerAddress: hex('aaaaaaaaaaaa'), other: [nonce, { type: 200, body: new Uint8Array(14) }] },
      },
    });
  });

  it('returns views into the input, not copies', () => {
    const frame = NS_FRAME.slice();
    const d = decodeNdpFrame(frame);
    if (!d.ok) throw new Error(d.reason);
    expect(d.value.target.buffer).toBe(frame.buffer);
  });

  it('refuses raw options whose size is not a multiple of 8 when encoding', () => {
    const bad: NdpMessage = { kind: 'ns', target: VIP, options: { other: [{ type: 14, body: new Uint8Array(5) }] } };
    expect(() => encodeNdp(CLIENT_IP, VIP, bad)).toThrow(RangeError);
  });

  it('never throws on random bytes under any IPv6 header', () => {
    const header: fc.Arbitrary<NdpIpv6Fields> = fc.record({
      nextHeader: fc.constantFrom(58, 58, 58, 0, 17, 43),
      hopLimit: fc.constantFrom(255, 255, 64, 0),
      src: fc.oneof(address, fc.constant(UNSPECIFIED)),
      dst: address,
    });
    fc.assert(fc.property(header, fc.uint8Array({ maxLength: 80 }), (h, b) => void decodeNdp(h, b)), { numRuns: 2000 });
  });

  it('never throws on mutated valid frames, with or without the checksum redone', () => {
    const valid = fc.oneof(
      fc.tuple(message, mac, mac, unicast, unicast).map(([m, srcMac, dstMac, srcIp, dstIp]) => ndpFrame({ srcMac, dstMac, srcIp, dstIp, message: m })),
      fc.integer().map((s) => randomFrame(createRng(s))),
    );
    fc.assert(
      fc.property(valid, fc.integer(), fc.boolean(), (frame, seed, fix) => {
        const mutated = mutateFrame(createRng(seed), frame);
        if (fix) refreshChecksum(mutated);
        void decodeNdpFrame(mutated);
      }),
      { numRuns: 2000 },
    );
  });
});
