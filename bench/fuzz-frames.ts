/**
 * Frame generators for fuzzing decoders and responders: plausible frames (ARP, NS, NA, with and
 * without VLAN tag), pure noise, and mutations of either. Deterministic for a given seed, so a
 * failure can be replayed.
 */
import { arpFrame, gratuitousArp, type ArpOp } from '../src/packet/arp.js';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV6,
  ETHERTYPE_QINQ,
  ETHERTYPE_VLAN,
  decodeEthernet,
  type VlanTag,
} from '../src/packet/ethernet.js';
import { fillIcmpv6Checksum } from '../src/packet/icmpv6.js';
import { NEXT_HEADER_ICMPV6, UNSPECIFIED, decodeIpv6, solicitedNodeAddress } from '../src/packet/ipv6.js';
import {
  neighborSolicitationFrame,
  solicitedNeighborAdvertisementFrame,
  unsolicitedNeighborAdvertisementFrame,
} from '../src/packet/ndp.js';
import { seededRandom } from '../test/helpers/seeded-random.js';

/** Uniform in [0, 1), like Math.random (which also fits, without replay). */
export type Rng = () => number;

/** A seeded generator: the simulations' own (mulberry32), so a seed means the same everywhere. */
export function createRng(seed: number): Rng {
  return seededRandom(seed);
}

function int(rng: Rng, n: number): number {
  return Math.floor(rng() * n);
}

function bytes(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = int(rng, 256);
  return out;
}

function unicastMac(rng: Rng): Uint8Array {
  const mac = bytes(rng, 6);
  mac[0] = (mac[0]! & 0xfe) | 0x02; // locally administered, individual (IEEE 802-2014 §8.2)
  return mac;
}

function ipv6Unicast(rng: Rng): Uint8Array {
  const ip = bytes(rng, 16);
  if (rng() < 0.5) {
    ip.set([0xfe, 0x80, 0, 0, 0, 0, 0, 0]); // link-local
  } else {
    ip.set([0x20, 0x01, 0x0d, 0xb8]); // RFC 3849 documentation prefix
  }
  return ip;
}

function maybeVlan(rng: Rng): VlanTag | undefined {
  return rng() < 0.25 ? { pcp: int(rng, 8), dei: rng() < 0.5, vid: int(rng, 4096) } : undefined;
}

/** Interesting 16-bit values for field overwrites: EtherTypes, boundaries. */
const INTERESTING_U16 = [
  0, 1, 2, 0x05ff, 0x0600, 0x0800, 0xffff, ETHERTYPE_ARP, ETHERTYPE_IPV6, ETHERTYPE_VLAN, ETHERTYPE_QINQ,
];
/** Interesting octets: NDP/ICMPv6 types, next headers, hop limits, option lengths. */
const INTERESTING_U8 = [0, 1, 2, 4, 6, 0x3a, 0x7f, 0x80, 0x87, 0x88, 0xfe, 0xff];

/** One frame: valid ARP/NS/NA of every kind the responders see, or noise. */
export function randomFrame(rng: Rng): Uint8Array {
  const vlan = maybeVlan(rng);
  const mac = unicastMac(rng);
  switch (int(rng, 10)) {
    case 0:
      return bytes(rng, int(rng, 128));
    case 1: {
      const op: ArpOp = rng() < 0.7 ? 1 : 2;
      const targetMac = op === 1 ? new Uint8Array(6) : unicastMac(rng);
      return arpFrame({ op, senderMac: mac, senderIp: bytes(rng, 4), targetMac, targetIp: bytes(rng, 4) }, { vlan });
    }
    case 2:
      return arpFrame(gratuitousArp(mac, bytes(rng, 4), rng() < 0.5 ? 'request' : 'reply'), { vlan });
    case 3:
      return neighborSolicitationFrame({ srcMac: mac, srcIp: ipv6Unicast(rng), target: ipv6Unicast(rng), vlan });
    case 4: {
      const target = ipv6Unicast(rng);
      const dstMac = unicastMac(rng);
      return neighborSolicitationFrame({ srcMac: mac, srcIp: ipv6Unicast(rng), target, dstIp: target, dstMac, vlan });
    }
    case 5:
      return neighborSolicitationFrame({ srcMac: mac, srcIp: UNSPECIFIED, target: ipv6Unicast(rng), vlan });
    case 6:
      return solicitedNeighborAdvertisementFrame({
        srcMac: mac,
        dstMac: unicastMac(rng),
        srcIp: ipv6Unicast(rng),
        dstIp: ipv6Unicast(rng),
        target: ipv6Unicast(rng),
        override: rng() < 0.5,
        vlan,
      });
    case 7: {
      const target = ipv6Unicast(rng);
      return unsolicitedNeighborAdvertisementFrame({ srcMac: mac, srcIp: ipv6Unicast(rng), target, vlan });
    }
    case 8:
      // Invalid (RFC 4861 §7.1.1) yet checksummed: a DAD probe carrying a source link-layer address.
      return neighborSolicitationFrame({
        srcMac: mac,
        srcIp: UNSPECIFIED,
        target: ipv6Unicast(rng),
        options: { sourceLinkLayerAddress: mac, other: [] },
        vlan,
      });
    default: {
      // An NS with extra options: a nonce (RFC 3971 §5.3.2, type 14) and an unknown one.
      const target = ipv6Unicast(rng);
      return neighborSolicitationFrame({
        srcMac: mac,
        srcIp: ipv6Unicast(rng),
        target,
        dstIp: solicitedNodeAddress(target),
        options: {
          sourceLinkLayerAddress: mac,
          other: [
            { type: 14, body: bytes(rng, 6) },
            { type: 200 + int(rng, 56), body: bytes(rng, 8 * int(rng, 3) + 6) },
          ],
        },
        vlan,
      });
    }
  }
}

/**
 * A damaged copy of `frame` (the input is left alone): one to four of bit flips, byte and field
 * overwrites, truncation, extension with noise, and removal or duplication of a range.
 */
export function mutateFrame(rng: Rng, frame: Uint8Array): Uint8Array {
  let f = frame.slice();
  const count = 1 + int(rng, 4);
  for (let k = 0; k < count; k++) {
    const at = int(rng, f.length + 1);
    switch (int(rng, 7)) {
      case 0:
        if (f.length > 0) f[int(rng, f.length)]! ^= 1 << int(rng, 8);
        break;
      case 1:
        if (f.length > 0) f[int(rng, f.length)] = INTERESTING_U8[int(rng, INTERESTING_U8.length)]!;
        break;
      case 2:
        if (f.length > 1) {
          const v = INTERESTING_U16[int(rng, INTERESTING_U16.length)]!;
          const i = int(rng, f.length - 1);
          f[i] = v >>> 8;
          f[i + 1] = v & 0xff;
        }
        break;
      case 3:
        f = f.slice(0, at);
        break;
      case 4: {
        const tail = bytes(rng, 1 + int(rng, 32));
        const g = new Uint8Array(f.length + tail.length);
        g.set(f);
        g.set(tail, f.length);
        f = g;
        break;
      }
      case 5: {
        const end = at + int(rng, f.length - at + 1);
        const g = new Uint8Array(f.length - (end - at));
        g.set(f.subarray(0, at));
        g.set(f.subarray(end), at);
        f = g;
        break;
      }
      default: {
        const end = at + int(rng, Math.min(16, f.length - at) + 1);
        const g = new Uint8Array(f.length + (end - at));
        g.set(f.subarray(0, end));
        g.set(f.subarray(at), end);
        f = g;
        break;
      }
    }
  }
  return f;
}

/**
 * Recomputes, in place, the ICMPv6 checksum of a frame that still parses as Ethernet + IPv6 +
 * ICMPv6, so that a mutation reaches the checks behind the checksum (options, flags, DAD rules).
 * Returns whether it did.
 */
export function refreshChecksum(frame: Uint8Array): boolean {
  const eth = decodeEthernet(frame);
  if (!eth.ok || eth.value.etherType !== ETHERTYPE_IPV6) return false;
  const ip = decodeIpv6(eth.value.payload);
  if (!ip.ok || ip.value.nextHeader !== NEXT_HEADER_ICMPV6 || ip.value.payload.length < 4) return false;
  fillIcmpv6Checksum(ip.value.src, ip.value.dst, ip.value.payload);
  return true;
}
