/**
 * rtnetlink messages (rtnetlink(7), netlink(7)): the subset l2vip reads to follow interfaces
 * and addresses, and the dump requests that ask for them. Pure: bytes in, values out. Decoding
 * never throws; damaged input becomes a `malformed` entry.
 *
 * Netlink integers are in host byte order (netlink(7)); this code assumes it runs on the host
 * that produced the bytes.
 */
import { endianness } from 'node:os';

const LE = endianness() === 'LE';

// linux/netlink.h
export const NLMSG_HDRLEN = 16;
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;
export const NLM_F_REQUEST = 0x01;
export const NLM_F_MULTI = 0x02;
export const NLM_F_ACK = 0x04;
/** Set on a dump message when the dumped table changed while it was being dumped. */
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP = 0x300; // NLM_F_ROOT | NLM_F_MATCH

// linux/rtnetlink.h: message types and the legacy multicast group bits (group n is bit n-1).
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTMGRP_LINK = 0x1;
export const RTMGRP_IPV4_IFADDR = 0x10;
export const RTMGRP_IPV6_IFADDR = 0x100;

// linux/socket.h
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_INET6 = 10;

// linux/if_link.h: attributes of RTM_*LINK (after struct ifinfomsg, 16 bytes).
const IFINFOMSG_LEN = 16;
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_MASTER = 10;
const IFLA_OPERSTATE = 16;
const IFLA_LINKINFO = 18;
const IFLA_CARRIER = 33;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_SLAVE_KIND = 4;

// linux/if_addr.h: attributes of RTM_*ADDR (after struct ifaddrmsg, 8 bytes).
const IFADDRMSG_LEN = 8;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_LABEL = 3;
/** u32 flags; supersedes the 8-bit ifa_flags when present. */
const IFA_FLAGS = 8;

// linux/netlink.h: struct nlattr is {u16 len, u16 type}; the top two type bits are flags.
const NLA_HDRLEN = 4;
const NLA_TYPE_MASK = 0x3fff; // ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER)

export interface NlHeader {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  /** Sender port id: 0 for the kernel's notifications, our port id on replies to our requests. */
  readonly pid: number;
}

/** struct ifinfomsg and the attributes we read. */
export interface LinkMessage {
  readonly family: number;
  /** ARPHRD_* (linux/if_arp.h): 1 Ethernet, 772 loopback, ... */
  readonly type: number;
  readonly index: number;
  /** IFF_* (linux/if.h). */
  readonly flags: number;
  readonly change: number;
  readonly name?: string;
  /** Link-layer address (the MAC for Ethernet). */
  readonly address?: Uint8Array;
  readonly mtu?: number;
  /** ifindex of the bridge, bond or VRF this interface is enslaved to. */
  readonly master?: number;
  /** IF_OPER_* (RFC 2863 operational state, linux/if.h). */
  readonly operstate?: number;
  readonly carrier?: number;
  /** IFLA_INFO_KIND: 'bridge', 'veth', 'vlan', 'bond', ... (absent for plain devices). */
  readonly kind?: string;
  /** IFLA_INFO_SLAVE_KIND: the master's kind as seen from a port. */
  readonly slaveKind?: string;
}

/** struct ifaddrmsg and the attributes we read. */
export interface AddrMessage {
  readonly family: number;
  readonly prefixLength: number;
  /** IFA_F_* (linux/if_addr.h), from IFA_FLAGS when present. */
  readonly flags: number;
  /** RT_SCOPE_* (linux/rtnetlink.h): 0 universe, 253 link, 254 host. */
  readonly scope: number;
  readonly index: number;
  readonly address?: Uint8Array;
  readonly local?: Uint8Array;
  readonly label?: string;
}

export type RtnlMessage =
  | { readonly kind: 'newlink' | 'dellink'; readonly header: NlHeader; readonly link: LinkMessage }
  | { readonly kind: 'newaddr' | 'deladdr'; readonly header: NlHeader; readonly addr: AddrMessage }
  /** End of a dump; `errno` is non-zero when the dump failed. */
  | { readonly kind: 'done'; readonly header: NlHeader; readonly errno: number }
  /** NLMSG_ERROR: errno 0 is an acknowledgement. */
  | { readonly kind: 'error'; readonly header: NlHeader; readonly errno: number }
  /** A well-framed message of a type we do not read (NLMSG_NOOP, RTM_NEWROUTE, ...). */
  | { readonly kind: 'other'; readonly header: NlHeader }
  /** A damaged message, skipped. When its framing is damaged, it is the last entry. */
  | { readonly kind: 'malformed'; readonly reason: string };

/** Splits a datagram into its messages. Never throws. */
export function decodeMessages(datagram: Uint8Array): RtnlMessage[] {
  const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  const out: RtnlMessage[] = [];
  let at = 0;
  while (at < datagram.length) {
    const remaining = datagram.length - at;
    if (remaining < NLMSG_HDRLEN) {
      out.push({ kind: 'malformed', reason: `${remaining} trailing bytes, shorter than a netlink header` });
      break;
    }
    const len = view.getUint32(at, LE);
    if (len < NLMSG_HDRLEN || len > remaining) {
      out.push({ kind: 'malformed', reason: `nlmsg_len ${len} outside [${NLMSG_HDRLEN}, ${remaining}]` });
      break;
    }
    const header: NlHeader = {
      type: view.getUint16(at + 4, LE),
      flags: view.getUint16(at + 6, LE),
      seq: view.getUint32(at + 8, LE),
      pid: view.getUint32(at + 12, LE),
    };
    out.push(decodeBody(header, datagram.subarray(at + NLMSG_HDRLEN, at + len)));
    at += align4(len);
  }
  return out;
}

function decodeBody(header: NlHeader, body: Uint8Array): RtnlMessage {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  switch (header.type) {
    case RTM_NEWLINK:
    case RTM_DELLINK: {
      if (body.length < IFINFOMSG_LEN) return malformed(header, `ifinfomsg needs ${IFINFOMSG_LEN} bytes, got ${body.length}`);
      const attrs = decodeAttributes(body.subarray(IFINFOMSG_LEN));
      if (typeof attrs === 'string') return malformed(header, attrs);
      const link: Mutable<LinkMessage> = {
        family: body[0]!,
        type: view.getUint16(2, LE),
        index: view.getInt32(4, LE),
        flags: view.getUint32(8, LE),
        change: view.getUint32(12, LE),
      };
      for (const [type, value] of attrs) {
        if (type === IFLA_IFNAME) link.name = cString(value);
        else if (type === IFLA_ADDRESS) link.address = Uint8Array.from(value);
        else if (type === IFLA_MTU && value.length >= 4) link.mtu = u32(value);
        else if (type === IFLA_MASTER && value.length >= 4) link.master = u32(value);
        else if (type === IFLA_OPERSTATE && value.length >= 1) link.operstate = value[0]!;
        else if (type === IFLA_CARRIER && value.length >= 1) link.carrier = value[0]!;
        else if (type === IFLA_LINKINFO) {
          const info = decodeAttributes(value);
          if (typeof info === 'string') return malformed(header, `IFLA_LINKINFO: ${info}`);
          for (const [infoType, infoValue] of info) {
            if (infoType === IFLA_INFO_KIND) link.kind = cString(infoValue);
            else if (infoType === IFLA_INFO_SLAVE_KIND) link.slaveKind = cString(infoValue);
          }
        }
      }
      return { kind: header.type === RTM_NEWLINK ? 'newlink' : 'dellink', header, link };
    }
    case RTM_NEWADDR:
    case RTM_DELADDR: {
      if (body.length < IFADDRMSG_LEN) return malformed(header, `ifaddrmsg needs ${IFADDRMSG_LEN} bytes, got ${body.length}`);
      const attrs = decodeAttributes(body.subarray(IFADDRMSG_LEN));
      if (typeof attrs === 'string') return malformed(header, attrs);
      const addr: Mutable<AddrMessage> = {
        family: body[0]!,
        prefixLength: body[1]!,
        flags: body[2]!,
        scope: body[3]!,
        index: view.getUint32(4, LE),
      };
      for (const [type, value] of attrs) {
        if (type === IFA_ADDRESS) addr.address = Uint8Array.from(value);
        else if (type === IFA_LOCAL) addr.local = Uint8Array.from(value);
        else if (type === IFA_LABEL) addr.label = cString(value);
        else if (type === IFA_FLAGS && value.length >= 4) addr.flags = u32(value);
      }
      return { kind: header.type === RTM_NEWADDR ? 'newaddr' : 'deladdr', header, addr };
    }
    case NLMSG_DONE:
      // The payload is an int: 0, or a negative errno when the dump failed (absent from old kernels).
      return { kind: 'done', header, errno: body.length >= 4 ? errnoOf(view) : 0 };
    case NLMSG_ERROR:
      if (body.length < 4) return malformed(header, 'NLMSG_ERROR without its error code');
      return { kind: 'error', header, errno: errnoOf(view) };
    default:
      return { kind: 'other', header };
  }
}

/** [type, value] pairs of a run of netlink attributes, or why it is damaged. */
function decodeAttributes(bytes: Uint8Array): [number, Uint8Array][] | string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: [number, Uint8Array][] = [];
  let at = 0;
  while (at + NLA_HDRLEN <= bytes.length) {
    const len = view.getUint16(at, LE);
    if (len < NLA_HDRLEN || at + len > bytes.length) return `attribute length ${len} at offset ${at} overruns the message`;
    out.push([view.getUint16(at + 2, LE) & NLA_TYPE_MASK, bytes.subarray(at + NLA_HDRLEN, at + len)]);
    at += align4(len);
  }
  return out;
}

/** The kernel sends 0 or a negated errno (netlink(7) struct nlmsgerr). */
function errnoOf(view: DataView): number {
  return Math.abs(view.getInt32(0, LE));
}

function malformed(header: NlHeader, reason: string): RtnlMessage {
  return { kind: 'malformed', reason: `message type ${header.type} seq ${header.seq}: ${reason}` };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function align4(n: number): number {
  return (n + 3) & ~3;
}

function u32(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, LE);
}

const utf8 = new TextDecoder('utf-8');
function cString(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return utf8.decode(nul < 0 ? bytes : bytes.subarray(0, nul));
}

// Encoding: dump requests for the real socket, and every message kind for tests and fakes.

/** RTM_GETLINK or RTM_GETADDR with NLM_F_DUMP: all links, or all addresses of `family`. */
export function encodeDumpRequest(type: typeof RTM_GETLINK | typeof RTM_GETADDR, seq: number, family = AF_UNSPEC): Uint8Array {
  const body = new Uint8Array(type === RTM_GETLINK ? IFINFOMSG_LEN : IFADDRMSG_LEN);
  body[0] = family;
  return frame({ type, flags: NLM_F_REQUEST | NLM_F_DUMP, seq, pid: 0 }, body);
}

const TYPE_OF_KIND = { newlink: RTM_NEWLINK, dellink: RTM_DELLINK, newaddr: RTM_NEWADDR, deladdr: RTM_DELADDR, done: NLMSG_DONE, error: NLMSG_ERROR } as const;

/**
 * The inverse of decodeMessages for one message (`malformed` cannot be encoded). The message
 * type comes from `kind`; `header.type` is used only for `other`.
 */
export function encodeMessage(message: Exclude<RtnlMessage, { kind: 'malformed' }>): Uint8Array {
  const header = message.kind === 'other' ? message.header : { ...message.header, type: TYPE_OF_KIND[message.kind] };
  switch (message.kind) {
    case 'newlink':
    case 'dellink': {
      const l = message.link;
      const head = new Uint8Array(IFINFOMSG_LEN);
      const view = new DataView(head.buffer);
      head[0] = l.family;
      view.setUint16(2, l.type, LE);
      view.setInt32(4, l.index, LE);
      view.setUint32(8, l.flags, LE);
      view.setUint32(12, l.change, LE);
      const linkinfo: Uint8Array[] = [];
      if (l.kind !== undefined) linkinfo.push(attribute(IFLA_INFO_KIND, cStringBytes(l.kind)));
      if (l.slaveKind !== undefined) linkinfo.push(attribute(IFLA_INFO_SLAVE_KIND, cStringBytes(l.slaveKind)));
      return frame(header, concat([
        head,
        ...optional(IFLA_IFNAME, l.name, cStringBytes),
        ...optional(IFLA_ADDRESS, l.address, (a) => a),
        ...optional(IFLA_MTU, l.mtu, u32Bytes),
        ...optional(IFLA_MASTER, l.master, u32Bytes),
        ...optional(IFLA_OPERSTATE, l.operstate, (v) => Uint8Array.of(v)),
        ...optional(IFLA_CARRIER, l.carrier, (v) => Uint8Array.of(v)),
        ...(linkinfo.length > 0 ? [attribute(IFLA_LINKINFO, concat(linkinfo))] : []),
      ]));
    }
    case 'newaddr':
    case 'deladdr': {
      const a = message.addr;
      const head = new Uint8Array(IFADDRMSG_LEN);
      head.set([a.family, a.prefixLength, a.flags & 0xff, a.scope]);
      new DataView(head.buffer).setUint32(4, a.index, LE);
      return frame(header, concat([
        head,
        ...optional(IFA_ADDRESS, a.address, (v) => v),
        ...optional(IFA_LOCAL, a.local, (v) => v),
        ...optional(IFA_LABEL, a.label, cStringBytes),
        // Like the kernel, always send the full 32-bit flags: the header byte holds only the low 8.
        attribute(IFA_FLAGS, u32Bytes(a.flags)),
      ]));
    }
    case 'done':
    case 'error': {
      const body = new Uint8Array(message.kind === 'error' ? 4 + NLMSG_HDRLEN : 4);
      new DataView(body.buffer).setInt32(0, -message.errno, LE);
      return frame(header, body);
    }
    case 'other':
      return frame(header, new Uint8Array(0));
  }
}

function frame(header: NlHeader, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(NLMSG_HDRLEN + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, out.length, LE);
  view.setUint16(4, header.type, LE);
  view.setUint16(6, header.flags, LE);
  view.setUint32(8, header.seq, LE);
  view.setUint32(12, header.pid, LE);
  out.set(body, NLMSG_HDRLEN);
  return out;
}

function attribute(type: number, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(align4(NLA_HDRLEN + value.length));
  const view = new DataView(out.buffer);
  view.setUint16(0, NLA_HDRLEN + value.length, LE);
  view.setUint16(2, type, LE);
  out.set(value, NLA_HDRLEN);
  return out;
}

function optional<T>(type: number, value: T | undefined, encode: (v: T) => Uint8Array): Uint8Array[] {
  return value === undefined ? [] : [attribute(type, encode(value))];
}

function u32Bytes(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, LE);
  return out;
}

const utf8Encoder = new TextEncoder();
function cStringBytes(s: string): Uint8Array {
  return concat([utf8Encoder.encode(s), Uint8Array.of(0)]);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
