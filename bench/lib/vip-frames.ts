/**
 * Frames aimed at a responder's own VIPs, for fuzzing it past the "not ours" check that random
 * frames never get beyond: requests it must answer, and near misses it must drop for one
 * specific reason (wrong destination, wrong interface, own frame, conflict, off-link hop limit,
 * bad checksum). bench/fuzz.ts mutates a share of them too.
 */
import { arpFrame, gratuitousArp, type ArpPacket } from '../../src/packet/arp.js';
import { ETHERNET_HEADER_LENGTH, VLAN_TAG_LENGTH, type VlanTag } from '../../src/packet/ethernet.js';
import { UNSPECIFIED } from '../../src/packet/ipv6.js';
import { BROADCAST_MAC } from '../../src/packet/mac.js';
import { neighborSolicitationFrame, unsolicitedNeighborAdvertisementFrame } from '../../src/packet/ndp.js';
import type { Rng } from '../fuzz-frames.js';

export interface VipTargets {
  /** MAC of the interface the frames arrive on. */
  readonly ourMac: Uint8Array;
  /** Owned on that interface. */
  readonly v4: readonly Uint8Array[];
  readonly v6: readonly Uint8Array[];
  /** Owned by the same node, on another interface only. */
  readonly elsewhere4: readonly Uint8Array[];
  readonly elsewhere6: readonly Uint8Array[];
}

// RFC 8200 §3: fixed 40-byte IPv6 header; RFC 4443 §2.1: checksum at offset 2 of ICMPv6.
const IPV6_HEADER_LENGTH = 40;
const ICMPV6_CHECKSUM_OFFSET = 2;

function int(rng: Rng, n: number): number {
  return Math.floor(rng() * n);
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[int(rng, items.length)]!;
}

function otherMac(rng: Rng): Uint8Array {
  // Locally administered, individual (IEEE 802-2014 §8.2); never equal to ourMac, whose
  // second octet bench/fuzz.ts keeps at 0.
  return Uint8Array.from([0x06, 0x01 + int(rng, 254), int(rng, 256), int(rng, 256), int(rng, 256), int(rng, 256)]);
}

function client4(rng: Rng): Uint8Array {
  return Uint8Array.from([198, 51, 100, 1 + int(rng, 9)]);
}

function client6(rng: Rng): Uint8Array {
  const ip = new Uint8Array(16);
  ip.set([0xfe, 0x80]);
  for (let i = 8; i < 16; i++) ip[i] = int(rng, 256);
  return ip;
}

/** The address next to `ip` (last octet + 1): not owned, so dropped as not-ours. */
function neighbour(ip: Uint8Array): Uint8Array {
  const n = ip.slice();
  n[n.length - 1] = (n[n.length - 1]! + 1) & 0xff;
  return n;
}

function maybeVlan(rng: Rng): VlanTag | undefined {
  return rng() < 0.15 ? { pcp: int(rng, 8), dei: false, vid: 1 + int(rng, 4094) } : undefined;
}

function arpRequest(rng: Rng, target: Uint8Array, dst: Uint8Array, senderMac: Uint8Array, vlan: VlanTag | undefined): Uint8Array {
  const p: ArpPacket = { op: 1, senderMac, senderIp: client4(rng), targetMac: new Uint8Array(6), targetIp: target };
  return arpFrame(p, { dst, vlan });
}

function ns(rng: Rng, target: Uint8Array, vlan: VlanTag | undefined, hopLimit?: number): Uint8Array {
  return neighborSolicitationFrame({ srcMac: otherMac(rng), srcIp: client6(rng), target, vlan, hopLimit });
}

/** One frame about a VIP: mostly requests to answer, the rest each dropped for a known reason. */
export function vipFrame(rng: Rng, t: VipTargets): Uint8Array {
  const vlan = maybeVlan(rng);
  const v4 = pick(rng, t.v4);
  const v6 = pick(rng, t.v6);
  switch (int(rng, 16)) {
    case 0:
    case 1:
    case 2:
      return arpRequest(rng, v4, BROADCAST_MAC, otherMac(rng), vlan);
    case 3:
      // RFC 1122 §2.3.2.1: unicast poll of a cached entry, to our MAC.
      return arpRequest(rng, v4, t.ourMac, otherMac(rng), vlan);
    case 4:
      return arpRequest(rng, v4, otherMac(rng), otherMac(rng), vlan); // wrong-destination
    case 5:
      // Another host claims the VIP: a reply or an announcement (conflict, never answered).
      return arpFrame(gratuitousArp(otherMac(rng), v4, rng() < 0.5 ? 'request' : 'reply'), { vlan });
    case 6:
      return arpRequest(rng, v4, BROADCAST_MAC, t.ourMac, vlan); // own-frame
    case 7:
      return rng() < 0.5 ? arpRequest(rng, neighbour(v4), BROADCAST_MAC, otherMac(rng), vlan) : ns(rng, neighbour(v6), vlan);
    case 8:
      return rng() < 0.5 ? arpRequest(rng, pick(rng, t.elsewhere4), BROADCAST_MAC, otherMac(rng), vlan) : ns(rng, pick(rng, t.elsewhere6), vlan);
    case 9:
    case 10:
      return ns(rng, v6, vlan); // address resolution: multicast, with a source link-layer address
    case 11:
      // NUD (RFC 4861 §7.2.2): unicast to the VIP and our MAC, no source link-layer address.
      return neighborSolicitationFrame({ srcMac: otherMac(rng), srcIp: client6(rng), target: v6, dstIp: v6, dstMac: t.ourMac, options: { other: [] }, vlan });
    case 12:
      // DAD probe (RFC 4862 §5.4.2) for the VIP: another host about to configure it.
      return neighborSolicitationFrame({ srcMac: otherMac(rng), srcIp: UNSPECIFIED, target: v6, vlan });
    case 13:
      return ns(rng, v6, vlan, int(rng, 255)); // RFC 4861 §7.1.1: hop limit must be 255
    case 14: {
      const f = ns(rng, v6, vlan);
      const at = (vlan === undefined ? ETHERNET_HEADER_LENGTH : ETHERNET_HEADER_LENGTH + VLAN_TAG_LENGTH) + IPV6_HEADER_LENGTH + ICMPV6_CHECKSUM_OFFSET;
      f[at]! ^= 1 + int(rng, 255); // RFC 4443 §2.3: a checksum that does not verify
      return f;
    }
    default:
      // Another host advertises the VIP (RFC 4861 §7.2.6): a conflict.
      return unsolicitedNeighborAdvertisementFrame({ srcMac: otherMac(rng), srcIp: client6(rng), target: v6, vlan });
  }
}
