/**
 * The host's interfaces and addresses as rtnetlink describes them, kept current by applying
 * RTM_NEWLINK/DELLINK/NEWADDR/DELADDR messages in order. Pure: every change returns the events
 * it causes; LinkWatcher does the I/O.
 */
import ipaddr from 'ipaddr.js';
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  type AddrMessage,
  type LinkMessage,
  type RtnlMessage,
} from './rtnetlink-codec.js';

/** IFF_* bits we expose (linux/if.h). */
export interface InterfaceFlags {
  readonly up: boolean;
  readonly broadcast: boolean;
  readonly loopback: boolean;
  readonly pointToPoint: boolean;
  /** IFF_RUNNING: operationally up (RFC 2863 "up"). */
  readonly running: boolean;
  readonly noarp: boolean;
  readonly multicast: boolean;
  /** IFF_LOWER_UP: the carrier is present. */
  readonly lowerUp: boolean;
}

export type OperState = 'unknown' | 'notpresent' | 'down' | 'lowerlayerdown' | 'testing' | 'dormant' | 'up';

export interface InterfaceAddress {
  readonly family: 4 | 6;
  /** Canonical text (RFC 5952 for IPv6). */
  readonly address: string;
  readonly prefixLength: number;
  /** 169.254.0.0/16 (RFC 3927) or fe80::/10 (RFC 4291 §2.5.6). */
  readonly linkLocal: boolean;
  /** IPv6 duplicate address detection still running: the address cannot be used yet (RFC 4862 §5.4). */
  readonly tentative: boolean;
  /** IPv6 duplicate address detection failed. */
  readonly dadFailed: boolean;
}

export interface NetInterface {
  readonly index: number;
  readonly name: string;
  /** The link-layer address (6 bytes on Ethernet), null for devices without one. */
  readonly mac: Uint8Array | null;
  /** ARPHRD_* (linux/if_arp.h): 1 Ethernet, 772 loopback. */
  readonly linkType: number;
  readonly flags: InterfaceFlags;
  readonly operState: OperState;
  readonly mtu: number | null;
  /** ifindex of the bridge, bond, team or VRF this interface belongs to. */
  readonly master: number | null;
  /** rtnetlink link kind: 'bridge', 'veth', 'vlan', 'bond', ...; null for physical NICs. */
  readonly kind: string | null;
  readonly addresses: readonly InterfaceAddress[];
}

export type LinkEvent =
  | { readonly type: 'added'; readonly iface: NetInterface }
  | { readonly type: 'changed'; readonly iface: NetInterface; readonly previous: NetInterface }
  | { readonly type: 'removed'; readonly iface: NetInterface };

export interface AddressEvent {
  /** 'changed': same address and prefix, new flags (for example DAD finished). */
  readonly type: 'added' | 'removed' | 'changed';
  /** The interface as it is after the change. */
  readonly iface: NetInterface;
  readonly address: InterfaceAddress;
}

export type TableEvent = { readonly kind: 'link'; readonly event: LinkEvent } | { readonly kind: 'address'; readonly event: AddressEvent };

// linux/if.h: IFF_UP 0x1, IFF_BROADCAST 0x2, IFF_LOOPBACK 0x8, IFF_POINTOPOINT 0x10,
// IFF_RUNNING 0x40, IFF_NOARP 0x80, IFF_MULTICAST 0x1000, IFF_LOWER_UP 0x10000.
const FLAG_BITS: Readonly<Record<keyof InterfaceFlags, number>> = {
  up: 0x1,
  broadcast: 0x2,
  loopback: 0x8,
  pointToPoint: 0x10,
  running: 0x40,
  noarp: 0x80,
  multicast: 0x1000,
  lowerUp: 0x10000,
};
const FLAG_NAMES = Object.keys(FLAG_BITS) as (keyof InterfaceFlags)[];
// linux/if.h: IF_OPER_* in RFC 2863 order.
const OPER_STATES: readonly OperState[] = ['unknown', 'notpresent', 'down', 'lowerlayerdown', 'testing', 'dormant', 'up'];
// linux/if_addr.h
const IFA_F_DADFAILED = 0x08;
const IFA_F_TENTATIVE = 0x40;

type Link = Omit<NetInterface, 'addresses'>;

/** Interfaces by ifindex. `apply` takes messages in the order the kernel sent them. */
export class InterfaceTable {
  private readonly links = new Map<number, Link>();
  /** Addresses by ifindex, then by addressKey. */
  private readonly addrs = new Map<number, Map<string, InterfaceAddress>>();
  private readonly composed = new Map<number, NetInterface>();

  get(index: number): NetInterface | undefined {
    return this.composed.get(index);
  }

  byName(name: string): NetInterface | undefined {
    for (const iface of this.composed.values()) if (iface.name === name) return iface;
    return undefined;
  }

  /** Every interface, by ascending ifindex. */
  list(): NetInterface[] {
    return [...this.composed.values()].sort((a, b) => a.index - b.index);
  }

  /** Applies one message; returns what changed. Messages of other kinds change nothing. */
  apply(message: RtnlMessage): TableEvent[] {
    switch (message.kind) {
      case 'newlink': {
        const link = linkFromMessage(message.link);
        return link === null ? [] : this.setLink(link);
      }
      case 'dellink':
        // AF_BRIDGE RTM_DELLINK only says a port left its bridge (net/bridge/br_netlink.c).
        return message.link.family === AF_UNSPEC ? this.removeLink(message.link.index) : [];
      case 'newaddr': {
        const address = addressFromMessage(message.addr);
        return address === null ? [] : this.setAddress(message.addr.index, address);
      }
      case 'deladdr': {
        const address = addressFromMessage(message.addr);
        return address === null ? [] : this.removeAddress(message.addr.index, address);
      }
      default:
        return [];
    }
  }

  /** Makes this table equal to `other`, returning the events that take it there. */
  replaceWith(other: InterfaceTable): TableEvent[] {
    const events: TableEvent[] = [];
    for (const index of [...this.links.keys()]) {
      if (!other.links.has(index)) events.push(...this.removeLink(index));
    }
    for (const link of other.links.values()) events.push(...this.setLink(link));
    for (const index of [...this.addrs.keys()]) {
      const theirs = other.addrs.get(index);
      for (const [key, address] of this.addrs.get(index) ?? []) {
        if (theirs?.has(key) !== true) events.push(...this.removeAddress(index, address));
      }
    }
    for (const [index, addresses] of other.addrs) {
      for (const address of addresses.values()) events.push(...this.setAddress(index, address));
    }
    return events;
  }

  private setLink(link: Link): TableEvent[] {
    const previous = this.composed.get(link.index);
    const old = this.links.get(link.index);
    if (old !== undefined && sameLink(old, link)) return [];
    this.links.set(link.index, link);
    const iface = this.compose(link.index);
    return [{ kind: 'link', event: previous === undefined ? { type: 'added', iface } : { type: 'changed', iface, previous } }];
  }

  private removeLink(index: number): TableEvent[] {
    const last = this.composed.get(index);
    if (last === undefined) {
      this.addrs.delete(index);
      return [];
    }
    // Report the addresses the interface took with it, then the interface itself.
    const events: TableEvent[] = [];
    for (const address of this.addrs.get(index)?.values() ?? []) events.push(...this.removeAddress(index, address));
    this.links.delete(index);
    this.addrs.delete(index);
    this.composed.delete(index);
    events.push({ kind: 'link', event: { type: 'removed', iface: { ...last, addresses: [] } } });
    return events;
  }

  private setAddress(index: number, address: InterfaceAddress): TableEvent[] {
    let addresses = this.addrs.get(index);
    if (addresses === undefined) this.addrs.set(index, (addresses = new Map<string, InterfaceAddress>()));
    const key = addressKey(address);
    const old = addresses.get(key);
    if (old !== undefined && old.tentative === address.tentative && old.dadFailed === address.dadFailed) return [];
    addresses.set(key, address);
    return this.addressEvent(index, old === undefined ? 'added' : 'changed', address);
  }

  private removeAddress(index: number, address: InterfaceAddress): TableEvent[] {
    const addresses = this.addrs.get(index);
    const key = addressKey(address);
    const old = addresses?.get(key);
    if (addresses === undefined || old === undefined) return [];
    addresses.delete(key);
    return this.addressEvent(index, 'removed', old);
  }

  /** Address events name their interface; addresses of a link not seen yet wait for it silently. */
  private addressEvent(index: number, type: AddressEvent['type'], address: InterfaceAddress): TableEvent[] {
    if (!this.links.has(index)) return [];
    const iface = this.compose(index);
    return [{ kind: 'address', event: { type, iface, address } }];
  }

  private compose(index: number): NetInterface {
    const link = this.links.get(index)!;
    const iface: NetInterface = { ...link, addresses: [...(this.addrs.get(index)?.values() ?? [])] };
    this.composed.set(index, iface);
    return iface;
  }
}

/** The interface state an RTM_NEWLINK carries; null for messages that describe no interface. */
export function linkFromMessage(m: LinkMessage): Link | null {
  // AF_BRIDGE RTM_NEWLINK messages describe bridge port state, not the interface.
  if (m.family !== AF_UNSPEC || m.index <= 0 || m.name === undefined) return null;
  return {
    index: m.index,
    name: m.name,
    mac: m.address ?? null,
    linkType: m.type,
    flags: Object.fromEntries(FLAG_NAMES.map((f) => [f, (m.flags & FLAG_BITS[f]) !== 0])) as Record<keyof InterfaceFlags, boolean>,
    operState: OPER_STATES[m.operstate ?? 0] ?? 'unknown',
    mtu: m.mtu ?? null,
    master: m.master !== undefined && m.master > 0 ? m.master : null,
    kind: m.kind ?? null,
  };
}

/** The address an RTM_NEWADDR/DELADDR carries; null for other families or damaged ones. */
export function addressFromMessage(m: AddrMessage): InterfaceAddress | null {
  // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on point-to-point
  // links and the only one given otherwise (linux/if_addr.h).
  const bytes = m.local ?? m.address;
  if (bytes === undefined) return null;
  if (m.family === AF_INET && bytes.length === 4 && m.prefixLength <= 32) {
    return {
      family: 4,
      address: ipaddr.fromByteArray([...bytes]).toString(),
      prefixLength: m.prefixLength,
      linkLocal: bytes[0] === 169 && bytes[1] === 254,
      tentative: false,
      dadFailed: false,
    };
  }
  if (m.family === AF_INET6 && bytes.length === 16 && m.prefixLength <= 128) {
    return {
      family: 6,
      address: ipaddr.fromByteArray([...bytes]).toString(),
      prefixLength: m.prefixLength,
      linkLocal: bytes[0] === 0xfe && (bytes[1]! & 0xc0) === 0x80,
      tentative: (m.flags & IFA_F_TENTATIVE) !== 0,
      dadFailed: (m.flags & IFA_F_DADFAILED) !== 0,
    };
  }
  return null;
}

/** Linux keys IPv4 addresses by address and prefix (one address may be added with two prefixes). */
function addressKey(a: InterfaceAddress): string {
  return `${a.address}/${a.prefixLength}`;
}

function sameLink(a: Link, b: Link): boolean {
  return (
    a.name === b.name &&
    a.linkType === b.linkType &&
    a.operState === b.operState &&
    a.mtu === b.mtu &&
    a.master === b.master &&
    a.kind === b.kind &&
    sameBytes(a.mac, b.mac) &&
    FLAG_NAMES.every((f) => a.flags[f] === b.flags[f])
  );
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
