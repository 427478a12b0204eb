import { ARP_OP_REQUEST, arpFrame, arpReply, decodeArp, gratuitousArp } from '../packet/arp.js';
import { decodeEthernet, ETHERTYPE_ARP, ETHERTYPE_IPV6, type EthernetFrame } from '../packet/ethernet.js';
import { isBroadcastMac, macEquals, macToString, parseMac, solicitedNodeMulticastMac } from '../packet/mac.js';
import type { Logger } from '../observability/logger.js';
import type { Clock } from '../clock/clock.js';
import type { FrameSocket } from './frame-socket.js';
import { ipKey, type OwnedIp } from './owned-ips.js';
import type { ResponderStats } from './responder-stats.js';
import { solicitedNodeAddress } from '../packet/ipv6.js';
import ipaddr from 'ipaddr.js';
import { answerNeighborSolicitation, unsolicitedAdvertisement } from './ndp-responder.js';

/** The interface a responder serves. */
export interface InterfaceInfo {
  readonly name: string;
  readonly ifindex: number;
  readonly mac: Uint8Array;
}

export interface ResponderContext {
  readonly clock: Clock;
  readonly stats: ResponderStats;
  readonly logger: Logger;
  /** True when this node announces the IP (key from ipKey) on any interface. */
  readonly ownedAnywhere: (key: number | string) => boolean;
  /** IP-level multicast membership, so the kernel sends MLD reports (optional). */
  readonly groups?: Ipv6Groups | undefined;
  /** Told of every frame in which another MAC claims an IP announced here (after counting it). */
  readonly onConflict?: ((ip: string, iface: string, mac: Uint8Array) => void) | undefined;
  /**
   * The MAC to answer and announce `ip` with, when it is not the interface's: the service's
   * virtual MAC (src/announcer/virtual-mac.ts). Undefined: the interface's MAC.
   */
  readonly sourceMac?: ((ip: OwnedIp) => Uint8Array | undefined) | undefined;
}

/** Port: joins IPv6 multicast groups at the IP level (src/netdev/ipv6-group-joiner.ts). */
export interface Ipv6Groups {
  join(iface: string, group: string): void;
  leave(iface: string, group: string): void;
}

/** Send failures are logged at most once per interface in this period, but always counted. */
const SEND_FAILURE_LOG_INTERVAL_MS = 10_000;

/**
 * Answers ARP requests and Neighbor Solicitations for the IPs this node announces on one
 * interface, and sends their gratuitous announcements. It decides nothing about ownership:
 * the announcer tells it which IPs it owns.
 */
export class InterfaceResponder {
  private readonly owned = new Map<number | string, OwnedIp>();
  /** Solicited-node multicast memberships, refcounted: several VIPs can share one group. */
  private readonly groups = new Map<string, number>();
  private lastSendFailureLog: number | undefined;
  private readonly log: Logger;

  constructor(
    readonly iface: InterfaceInfo,
    private readonly socket: FrameSocket,
    private readonly ctx: ResponderContext,
  ) {
    this.log = ctx.logger.child({ component: 'responder', iface: iface.name });
    socket.onFrame((f) => this.handleFrame(f));
  }

  owns(ip: OwnedIp): boolean {
    return this.owned.has(ipKey(ip.bytes));
  }

  ownsKey(key: number | string): OwnedIp | undefined {
    return this.owned.get(key);
  }

  /** Starts answering for `ip` on this interface (no announcement: see sendGratuitous). */
  add(ip: OwnedIp): void {
    const key = ipKey(ip.bytes);
    if (this.owned.has(key)) return;
    this.owned.set(key, ip);
    if (ip.family === 6) {
      this.join(solicitedNodeMulticastMac(ip.bytes));
      this.ctx.groups?.join(this.iface.name, solicitedNodeGroup(ip.bytes));
    }
  }

  /** Stops answering for `ip` at once. */
  remove(ip: OwnedIp): void {
    const key = ipKey(ip.bytes);
    if (!this.owned.delete(key)) return;
    if (ip.family === 6) {
      this.leave(solicitedNodeMulticastMac(ip.bytes));
      this.ctx.groups?.leave(this.iface.name, solicitedNodeGroup(ip.bytes));
    }
  }

  /** Stops answering for every IP at once. */
  removeAll(): void {
    for (const ip of this.owned.values()) if (ip.family === 6) this.ctx.groups?.leave(this.iface.name, solicitedNodeGroup(ip.bytes));
    for (const k of this.groups.keys()) {
      const mac = parseMac(k);
      try {
        if (mac !== undefined) this.socket.dropMembership(mac);
      } catch {
        // Gone with the interface.
      }
    }
    this.owned.clear();
    this.groups.clear();
  }

  /**
   * One gratuitous announcement of `ip`: for IPv4 an ARP request and an ARP reply
   * (RFC 5227 §3 announcement; some devices update their caches only from one form),
   * for IPv6 an unsolicited Neighbor Advertisement to all nodes (RFC 4861 §7.2.6). True if a
   * frame went out.
   */
  sendGratuitous(ip: OwnedIp): boolean {
    const c = this.ctx.stats.ip(ip.ip);
    const before = c.gratuitousSent;
    const mac = this.macFor(ip);
    if (ip.family === 4) {
      for (const op of ['request', 'reply'] as const) {
        if (this.send(arpFrame(gratuitousArp(mac, ip.bytes, op)))) c.gratuitousSent++;
      }
    } else if (this.send(unsolicitedAdvertisement(mac, ip.bytes))) {
      c.gratuitousSent++;
    }
    return c.gratuitousSent > before;
  }

  close(): void {
    for (const ip of this.owned.values()) if (ip.family === 6) this.ctx.groups?.leave(this.iface.name, solicitedNodeGroup(ip.bytes));
    this.owned.clear();
    this.groups.clear();
    this.socket.close();
  }

  /** Entry point for every received frame. Never throws. */
  handleFrame(bytes: Uint8Array): void {
    const eth = decodeEthernet(bytes);
    if (!eth.ok) {
      this.ctx.stats.drop(`malformed:${eth.reason}`);
      return;
    }
    const frame = eth.value;
    if (macEquals(frame.src, this.iface.mac)) {
      this.ctx.stats.drop('own-frame');
      return;
    }
    if (frame.etherType === ETHERTYPE_ARP) this.handleArp(frame);
    else if (frame.etherType === ETHERTYPE_IPV6) {
      answerNeighborSolicitation(frame, this.iface.mac, {
        stats: this.ctx.stats,
        lookup: (key) => this.lookup(key),
        send: (f) => this.send(f),
        conflict: (ip, mac) => this.conflict(ip, mac),
        macFor: (ip) => this.macFor(ip),
      });
    } else this.ctx.stats.drop('malformed:unsupported-ethertype');
  }

  /** The IP if owned here; otherwise counts the drop reason and returns undefined. */
  private lookup(key: number | string): OwnedIp | undefined {
    const ip = this.owned.get(key);
    if (ip !== undefined) return ip;
    this.ctx.stats.drop(this.ctx.ownedAnywhere(key) ? 'wrong-interface' : 'not-ours');
    return undefined;
  }

  private handleArp(frame: EthernetFrame): void {
    const d = decodeArp(frame.payload);
    if (!d.ok) {
      this.ctx.stats.drop(`malformed:${d.reason}`);
      return;
    }
    const arp = d.value;
    // Someone else claiming an IP we announce (a reply, a gratuitous request, or a request
    // with it as sender address): count and log, never answer it.
    const claimed = this.owned.get(ipKey(arp.senderIp));
    // Also a claim with our virtual MAC: another host sending from it (we never receive our own
    // frames) moved the switches' entry for it to its port, so the owner must announce again.
    if (claimed !== undefined && !macEquals(arp.senderMac, this.iface.mac)) {
      this.conflict(claimed, arp.senderMac);
      return;
    }
    if (arp.op !== ARP_OP_REQUEST) {
      this.ctx.stats.drop('not-request');
      return;
    }
    // A unicast request (a client re-checking its entry) may be sent to the VIP's virtual MAC.
    const target = this.owned.get(ipKey(arp.targetIp));
    if (!isBroadcastMac(frame.dst) && !macEquals(frame.dst, this.iface.mac) && !(target !== undefined && macEquals(frame.dst, this.macFor(target)))) {
      this.ctx.stats.drop('wrong-destination');
      return;
    }
    const ip = target ?? this.lookup(ipKey(arp.targetIp));
    if (ip === undefined) return;
    const c = this.ctx.stats.ip(ip.ip);
    c.requestsReceived++;
    // Reply unicast to the requester (RFC 826), in the requester's VLAN if the frame was tagged.
    const mac = this.macFor(ip);
    const reply = arpFrame(arpReply(arp, mac), { dst: arp.senderMac, src: mac, vlan: frame.vlan });
    if (this.send(reply)) c.responsesSent++;
  }

  /** The MAC `ip` is answered and announced with: its virtual MAC, else the interface's. */
  private macFor(ip: OwnedIp): Uint8Array {
    return this.ctx.sourceMac?.(ip) ?? this.iface.mac;
  }

  /** Counts it and tells the announcer, which logs once per episode (src/announcer/conflict-episodes.ts). */
  private conflict(ip: OwnedIp, mac: Uint8Array): void {
    this.ctx.stats.ip(ip.ip).conflicts++;
    this.ctx.onConflict?.(ip.ip, this.iface.name, mac);
  }

  private send(frame: Uint8Array): boolean {
    try {
      this.socket.send(frame);
      return true;
    } catch (err) {
      this.ctx.stats.drop('send-failed');
      const reason = errnoReason(err);
      this.ctx.stats.sendFailed(reason);
      // Counted always, logged at most once per period: a full transmit queue fails thousands of sends.
      const now = this.ctx.clock.now();
      if (this.lastSendFailureLog === undefined || now - this.lastSendFailureLog >= SEND_FAILURE_LOG_INTERVAL_MS) {
        this.lastSendFailureLog = now;
        this.log.warn({ err, reason, failures: this.ctx.stats.sendFailures.get(reason) }, 'sending a frame failed (counted in l2vip_frame_send_failures_total)');
      }
      return false;
    }
  }

  private join(mac: Uint8Array): void {
    const k = macToString(mac);
    const n = this.groups.get(k) ?? 0;
    this.groups.set(k, n + 1);
    if (n === 0) {
      try {
        this.socket.addMembership(mac);
      } catch (err) {
        // The interface went away: unicast NS still reach us, and the link watcher will
        // have us reopen the interface.
        this.log.warn({ err, group: k }, 'joining a solicited-node group failed');
      }
    }
  }

  private leave(mac: Uint8Array): void {
    const k = macToString(mac);
    const n = this.groups.get(k) ?? 0;
    if (n <= 1) {
      this.groups.delete(k);
      try {
        if (n === 1) this.socket.dropMembership(mac);
      } catch {
        // Gone with the interface.
      }
    } else this.groups.set(k, n - 1);
  }
}

/** RFC 4291 §2.7.1 solicited-node group of an IPv6 address, as text. */
function solicitedNodeGroup(ip: Uint8Array): string {
  return ipaddr.fromByteArray([...solicitedNodeAddress(ip)]).toString();
}

/** A bounded label for a failed send: the errno code (ENOBUFS, ENETDOWN ...), else 'error'. */
function errnoReason(err: unknown): string {
  // SocketError (src/errors.ts) carries it as `errno`; the addon's raw error as `code`.
  const e = err as { errno?: unknown; code?: unknown } | null;
  for (const v of [e?.errno, e?.code]) if (typeof v === 'string' && /^E[A-Z0-9]{1,31}$/.test(v)) return v;
  return 'error';
}
