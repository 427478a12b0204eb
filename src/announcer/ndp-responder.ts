import { type EthernetFrame } from '../packet/ethernet.js';
import { macEquals } from '../packet/mac.js';
import { decodeIpv6, isUnspecified } from '../packet/ipv6.js';
import {
  decodeNdp,
  solicitedNeighborAdvertisementFrame,
  unsolicitedNeighborAdvertisementFrame,
} from '../packet/ndp.js';
import type { OwnedIp } from './owned-ips.js';
import { ipKey } from './owned-ips.js';
import type { ResponderStats } from './responder-stats.js';

/** What the NDP half of a responder needs from its interface responder. */
export interface NdpEnv {
  readonly stats: ResponderStats;
  /** The owned IP for a key, or undefined after counting why not. */
  lookup(key: number | string): OwnedIp | undefined;
  send(frame: Uint8Array): boolean;
  conflict(ip: OwnedIp, mac: Uint8Array): void;
  /** The MAC to answer for `ip` with (its virtual MAC); undefined: `ourMac`. */
  macFor?(ip: OwnedIp): Uint8Array;
}

/**
 * Answers one IPv6 frame if it is a valid Neighbor Solicitation for an owned VIP.
 *
 * Differences from MetalLB, on purpose:
 * - hop limit 255 and the checksum are checked (RFC 4861 §7.1.1), in the codec;
 * - a unicast NS without a source link-layer address option (NUD, RFC 4861 §7.2.2) is answered
 *   to the frame's source MAC (MetalLB issue #2920: it ignores them);
 * - a DAD probe (source ::) for an owned VIP is answered with an NA to all nodes (RFC 4861
 *   §7.2.4), which defends the VIP against a host about to configure it;
 * - the solicited NA carries O=1 (RFC 4861 §7.2.4: SHOULD, unless anycast), so a client holding
 *   the old owner's MAC switches on the answer itself, not only on our unsolicited NA.
 * The NA's source is the VIP itself, as Linux's ndisc_send_na() does, so an interface needs no
 * IPv6 link-local address to answer.
 */
export function answerNeighborSolicitation(frame: EthernetFrame, ourMac: Uint8Array, env: NdpEnv): void {
  const ip6 = decodeIpv6(frame.payload);
  if (!ip6.ok) {
    env.stats.drop(`malformed:${ip6.reason}`);
    return;
  }
  const pkt = ip6.value;
  const ndp = decodeNdp(pkt, pkt.payload);
  if (!ndp.ok) {
    env.stats.drop(`malformed:${ndp.reason}`);
    return;
  }
  const msg = ndp.value;
  if (msg.kind !== 'ns') {
    // An advertisement of an IP we announce, from another host: a conflict.
    const mine = msg.options.targetLinkLayerAddress;
    env.stats.drop('not-solicitation');
    if (mine !== undefined) {
      const ip = env.lookup(ipKey(msg.target));
      // A claim with our virtual MAC too: another host sent it (see the ARP half).
      if (ip !== undefined && !macEquals(mine, ourMac)) env.conflict(ip, mine);
    }
    return;
  }
  const ip = env.lookup(ipKey(msg.target));
  if (ip === undefined) return;
  const c = env.stats.ip(ip.ip);
  c.requestsReceived++;
  // The target link-layer address option carries srcMac: the VIP's virtual MAC if it has one.
  const mac = env.macFor?.(ip) ?? ourMac;
  let reply: Uint8Array;
  if (isUnspecified(pkt.src)) {
    reply = unsolicitedNeighborAdvertisementFrame({ srcMac: mac, srcIp: ip.bytes, target: ip.bytes, vlan: frame.vlan });
  } else {
    reply = solicitedNeighborAdvertisementFrame({
      srcMac: mac,
      dstMac: msg.options.sourceLinkLayerAddress ?? frame.src,
      srcIp: ip.bytes,
      dstIp: pkt.src,
      target: ip.bytes,
      override: true,
      vlan: frame.vlan,
    });
  }
  if (env.send(reply)) c.responsesSent++;
}

/** RFC 4861 §7.2.6 unsolicited NA (S=0, O=1) to all nodes, announcing `ip` at `mac`. */
export function unsolicitedAdvertisement(mac: Uint8Array, ip: Uint8Array): Uint8Array {
  return unsolicitedNeighborAdvertisementFrame({ srcMac: mac, srcIp: ip, target: ip });
}
