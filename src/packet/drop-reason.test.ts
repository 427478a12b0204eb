import { describe, expect, it } from 'vitest';
import { decodeArp } from './arp.js';
import { DROP_REASONS, type DecodeResult, type DropReason } from './drop-reason.js';
import { decodeEthernet } from './ethernet.js';
import { fillIcmpv6Checksum } from './icmpv6.js';
import { decodeIpv6, encodeIpv6, UNSPECIFIED } from './ipv6.js';
import { decodeNdp, ndpFrame, neighborSolicitationFrame } from './ndp.js';
import { hex, ip6, decodeNdpFrame } from '../../test/helpers/bytes.js';

const MAC = hex('001122334455');
const OTHER_MAC = hex('020000000001');
const SRC = ip6('fe80::211:22ff:fe33:4455');
const VIP = ip6('2001:db8::a');
const ARP = '0001 0800 06 04 0001 001122334455 c0a80001 000000000000 c0a8000a';
const ETH = 'ffffffffffff 001122334455';
const ICMP = { nextHeader: 58, hopLimit: 255, src: SRC, dst: VIP };

/** An ICMPv6 message from SRC to VIP with a correct checksum. */
function icmp(bytes: string): Uint8Array {
  const b = hex(bytes);
  fillIcmpv6Checksum(SRC, VIP, b);
  return b;
}

function ns(overrides: Partial<Parameters<typeof neighborSolicitationFrame>[0]> = {}): Uint8Array {
  return neighborSolicitationFrame({ srcMac: MAC, srcIp: SRC, target: VIP, ...overrides });
}

const cases: { reason: DropReason; name: string; run: () => DecodeResult<unknown> }[] = [
  { reason: 'truncated', name: 'Ethernet frame of 13 bytes', run: () => decodeEthernet(new Uint8Array(13)) },
  { reason: 'truncated', name: '802.1Q-tagged frame cut inside the tag', run: () => decodeEthernet(hex(`${ETH} 8100 0064`)) },
  { reason: 'truncated', name: 'ARP packet of 27 bytes', run: () => decodeArp(hex(ARP).subarray(0, 27)) },
  { reason: 'truncated', name: 'IPv6 header of 39 bytes', run: () => decodeIpv6(new Uint8Array(39).fill(0x60)) },
  { reason: 'truncated', name: 'ICMPv6 message of 3 bytes', run: () => decodeNdp(ICMP, hex('870000')) },
  { reason: 'bad-length', name: 'ARP with hln 8', run: () => decodeArp(hex(ARP.replace('06 04', '08 04'))) },
  { reason: 'bad-length', name: 'ARP with pln 16', run: () => decodeArp(hex(ARP.replace('06 04', '06 10'))) },
  {
    reason: 'bad-length',
    name: 'IPv6 payload length beyond the frame',
    run: () => decodeIpv6(encodeIpv6({ ...ICMP, trafficClass: 0, flowLabel: 0 }, new Uint8Array(8)).subarray(0, 47)),
  },
  { reason: 'bad-length', name: 'NS of 20 bytes (RFC 4861 §7.1.1: at least 24)', run: () => decodeNdp(ICMP, icmp('8700 0000 00000000 20010db8 00000000 00000000')) },
  { reason: 'unsupported-ethertype', name: '802.3 length field 0x05dc', run: () => decodeEthernet(hex(`${ETH} 05dc aaaa03`)) },
  { reason: 'unsupported-vlan-tag', name: 'QinQ S-tag 0x88a8 outside', run: () => decodeEthernet(hex(`${ETH} 88a8 0064 8100 0065 0806`)) },
  { reason: 'unsupported-vlan-tag', name: 'two stacked 802.1Q tags', run: () => decodeEthernet(hex(`${ETH} 8100 0064 8100 0065 0806`)) },
  { reason: 'unsupported-hardware-type', name: 'ARP hardware type 6 (IEEE 802)', run: () => decodeArp(hex(ARP.replace(/^0001/, '0006'))) },
  { reason: 'unsupported-protocol-type', name: 'ARP protocol type 0x86dd', run: () => decodeArp(hex(ARP.replace('0800', '86dd'))) },
  { reason: 'unsupported-arp-op', name: 'RARP request (op 3, RFC 903)', run: () => decodeArp(hex(ARP.replace('06 04 0001', '06 04 0003'))) },
  { reason: 'bad-ip-version', name: 'an IPv4 header', run: () => decodeIpv6(hex('45000028' + '00'.repeat(36))) },
  { reason: 'ipv6-extension-headers', name: 'hop-by-hop options header (MLD)', run: () => decodeNdp({ ...ICMP, nextHeader: 0 }, new Uint8Array(32)) },
  { reason: 'ipv6-extension-headers', name: 'fragment header', run: () => decodeNdp({ ...ICMP, nextHeader: 44 }, new Uint8Array(32)) },
  { reason: 'not-icmpv6', name: 'UDP', run: () => decodeNdp({ ...ICMP, nextHeader: 17 }, new Uint8Array(32)) },
  { reason: 'not-ndp', name: 'ICMPv6 echo request', run: () => decodeNdp(ICMP, icmp('8000 0000 0001 0001')) },
  { reason: 'not-ndp', name: 'router solicitation', run: () => decodeNdp(ICMP, icmp('8500 0000 00000000')) },
  { reason: 'bad-hop-limit', name: 'NS with hop limit 64 (routed from off-link)', run: () => decodeNdpFrame(ns({ hopLimit: 64 })) },
  { reason: 'bad-icmp-code', name: 'NS with code 1', run: () => decodeNdpFrame(ns({ code: 1 })) },
  {
    reason: 'bad-checksum',
    name: 'NS with one bit of the target flipped',
    run: () => {
      const f = ns();
      f[14 + 40 + 23]! ^= 0x01;
      return decodeNdpFrame(f);
    },
  },
  { reason: 'multicast-source', name: 'NS from ff02::1', run: () => decodeNdpFrame(ns({ srcIp: ip6('ff02::1') })) },
  { reason: 'multicast-target', name: 'NS for ff02::1', run: () => decodeNdpFrame(ns({ target: ip6('ff02::1'), dstIp: ip6('ff02::1:ff00:1') })) },
  { reason: 'bad-option', name: 'option of length 0', run: () => decodeNdpFrame(ns({ options: hex('0e00 000000000000') })) },
  { reason: 'bad-option', name: 'option running past the end', run: () => decodeNdpFrame(ns({ options: hex('0e02 000000000000') })) },
  { reason: 'bad-option', name: 'a lone option type octet at the end', run: () => decodeNdpFrame(ns({ options: hex('0101 001122334455 0e') })) },
  { reason: 'bad-option', name: 'source link-layer option of 16 bytes', run: () => decodeNdpFrame(ns({ options: hex('0102 001122334455' + '00'.repeat(8)) })) },
  {
    reason: 'dad-bad-destination',
    name: 'NS from :: to a unicast address',
    run: () => decodeNdpFrame(ns({ srcIp: UNSPECIFIED, dstIp: VIP, dstMac: OTHER_MAC })),
  },
  {
    reason: 'dad-source-lla',
    name: 'NS from :: with a source link-layer address',
    run: () => decodeNdpFrame(ns({ srcIp: UNSPECIFIED, options: { sourceLinkLayerAddress: MAC, other: [] } })),
  },
  {
    reason: 'solicited-multicast-na',
    name: 'NA with S=1 to ff02::1',
    run: () =>
      decodeNdpFrame(
        ndpFrame({
          srcMac: MAC,
          dstMac: hex('333300000001'),
          srcIp: SRC,
          dstIp: ip6('ff02::1'),
          message: { kind: 'na', router: false, solicited: true, override: true, target: VIP, options: { other: [] } },
        }),
      ),
  },
];

describe('drop reasons', () => {
  it.each(cases)('$reason: $name', ({ reason, run }) => {
    const r = run();
    expect(r.ok ? 'ok' : r.reason).toBe(reason);
  });

  it('every reason has a case that produces it', () => {
    expect(new Set(cases.map((c) => c.reason))).toEqual(new Set(DROP_REASONS));
  });

  it('drop results are shared frozen objects: dropping allocates nothing', () => {
    const a = decodeEthernet(new Uint8Array(3));
    const b = decodeEthernet(new Uint8Array(5));
    expect(a).toBe(b);
    expect(Object.isFrozen(a)).toBe(true);
    expect(a.ok ? undefined : a.detail).toMatch(/14-byte/);
  });
});
