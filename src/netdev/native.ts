/**
 * Typed loader of the native addon (native/afpacket): raw AF_PACKET and NETLINK_ROUTE sockets
 * read on the event loop, and the membership's UDP socket (read at its own ticks). The addon makes system calls only; callers parse what it delivers.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { MissingToolError } from '../errors.js';

/** One classic BPF instruction (linux/filter.h struct sock_filter). */
export interface BpfInstruction {
  readonly code: number;
  readonly jt: number;
  readonly jf: number;
  readonly k: number;
}

/** What the addon throws or reports when a system call fails, shaped like Node's own errors. */
export interface NativeErrnoError extends Error {
  /** Symbolic errno: 'EPERM', 'ENODEV', 'ENETDOWN', 'ENOBUFS', ... */
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
}

/**
 * Called once per event-loop wakeup with every datagram read (at most 256), or with a receive
 * error. `tags[i]` is the sll_pkttype of datagrams[i] for packet sockets, 0 for netlink.
 */
export type RecvCallback = (
  ...args: [err: NativeErrnoError] | [err: null, datagrams: Buffer[], tags: Uint8Array]
) => void;

interface PolledSocket {
  readonly fd: number;
  readonly closed: boolean;
  /** The receive callback given to the constructor; may be replaced. */
  onrecv: RecvCallback;
  /** Stops polling and closes the fd. Idempotent; garbage collection does it too. */
  close(): void;
}

/** AF_PACKET SOCK_RAW, bound to one interface and ethertype, PACKET_IGNORE_OUTGOING set. */
export interface NativePacketSocket extends PolledSocket {
  readonly ifindex: number;
  /** Sends one whole frame; protocol 0 lets the kernel read the ethertype from the frame. */
  send(frame: Uint8Array, protocol: number): void;
  /** Replaces the kernel filter; null detaches it. */
  setFilter(filter: readonly BpfInstruction[] | null): void;
  addMembership(mac: Uint8Array): void;
  dropMembership(mac: Uint8Array): void;
  /** PACKET_STATISTICS since the last call: frames that passed the filter (drops included) and frames lost to a full queue. */
  statistics(): { packets: number; drops: number };
}

/** AF_NETLINK NETLINK_ROUTE, bound to a bitmask of RTMGRP_* multicast groups. */
export interface NativeNetlinkSocket extends PolledSocket {
  /** The port id the kernel assigned (nlmsg_pid of replies to our requests). */
  readonly portId: number;
  /** Sends one request datagram (nlmsghdr-framed) to the kernel. */
  send(request: Uint8Array): void;
}

/**
 * The beat fast path's configuration (DatagramSocket.setBeats): what the addon needs to build
 * beats (wire version 4, type 4: src/membership/wire.ts) and to accept incoming ones without
 * JavaScript. A beat is accepted when wire.ts decodeMessage would decode it as a beat with one
 * of `keys` and membership's receive checks pass: receiver id `selfId`, sender not `self`, a
 * known sender, from its host, incarnation <= 2^48, timestamp within maxClockSkewMs.
 */
export interface NativeBeatConfig {
  /** Our node name, UTF-8, 1..255 bytes: the sender of the beats we send; beats naming it are refused (reflected). */
  readonly self: Uint8Array;
  /** Our member id (u32): the receiver id an incoming beat must carry. */
  readonly selfId: number;
  /** Keys to verify with (one HMAC context each) and to send with; the first of equal ids wins. */
  readonly keys: readonly { readonly id: number; readonly secret: Uint8Array }[];
  /** Known senders; a record's slot is the index here (the first of equal names wins). host: the IP literal (zone allowed, ignored) its beats must come from; an IPv4-mapped IPv6 address equals its IPv4 address; null: any source. */
  readonly senders: readonly { readonly name: Uint8Array; readonly host: string | null }[];
  /** Most |timestamp - our wall clock| (ms) accepted; null: no check. */
  readonly maxClockSkewMs: number | null;
  /**
   * Where receive() writes accepted beats: records[0] = count, record i at
   * records[1+5i .. 5+5i] = [slot, keyId, incarnation, seq, ageUs]; capacity floor((length-1)/5).
   * Kept referenced by the socket until the next setBeats.
   */
  readonly records: Float64Array;
}

/**
 * A non-blocking UDP socket nothing watches (no event-loop wakeup per datagram): its owner reads
 * it when it chooses, e.g. once per membership tick. IPv6 sockets are dual-stack.
 */
export interface NativeDatagramSocket {
  readonly fd: number;
  readonly closed: boolean;
  /** The bound port (the kernel's choice when bound to port 0). */
  readonly port: number;
  /**
   * Reads up to `max` queued datagrams without blocking: null when none was queued. `agesUs[i]`
   * is how long before this call datagram i arrived (the kernel's SO_TIMESTAMPNS receive time,
   * in µs; 0 for one that arrived during the call).
   * `error` is a receive error other than "nothing queued" (the datagrams before it are kept).
   * With setBeats configured: records[0] is set to 0 first; each acceptable beat (while records
   * has room) becomes a record instead of an entry here (null when only beats came); `max` counts
   * every datagram read.
   */
  receive(max: number): { data: Buffer[]; hosts: string[]; ports: number[]; agesUs: number[]; error?: NativeErrnoError } | null;
  /** The sockaddr `send` takes for an IP literal (IPv4-mapped for an IPv4 peer of an IPv6 socket); throws TypeError otherwise. */
  target(host: string, port: number): Buffer;
  /** Sends one datagram without blocking: 0, or the errno of a failed send (the datagram is lost). */
  send(target: Uint8Array, data: Uint8Array): number;
  /** Turns the beat fast path on (replacing any earlier config whole) or off (null). TypeError/RangeError on a bad config or host; Error when OpenSSL makes no HMAC context. Absent from an addon built before it. */
  setBeats?(config: NativeBeatConfig | null): void;
  /**
   * Builds and sends one beat (self from the config, MAC with key `keyId`) to `target` (from
   * target()), without blocking and without a JS object: 0, or an errno (EINVAL: not configured
   * or unknown keyId; EIO: the HMAC failed; else the failed send's). RangeError on ids that are
   * not u32 or u64s that are not safe integers >= 0. Absent from an addon built before it.
   */
  sendBeat?(target: Uint8Array, keyId: number, receiverId: number, incarnation: number, seq: number, timestampMs: number): number;
  /** Closes the fd. Idempotent; garbage collection does it too. */
  close(): void;
}

export interface NativeAddon {
  /** For both sockets, rcvbuf is the receive queue limit in bytes (0 keeps the kernel default, net.core.rmem_default). */
  readonly PacketSocket: new (
    ifindex: number,
    protocol: number,
    filter: readonly BpfInstruction[] | null,
    rcvbuf: number,
    onrecv: RecvCallback,
  ) => NativePacketSocket;
  readonly NetlinkSocket: new (groups: number, rcvbuf: number, onrecv: RecvCallback) => NativeNetlinkSocket;
  /** Binds host:port (an IP literal; '::' and '0.0.0.0' for any). Throws EADDRINUSE, EADDRNOTAVAIL, ... */
  readonly DatagramSocket: new (family: 4 | 6, host: string, port: number, rcvbuf: number) => NativeDatagramSocket;
  /** HMAC-SHA256 with one key (Node's own OpenSSL); digest() writes 32 bytes into out. Absent from an addon built before it. */
  readonly HmacSha256?: new (key: Uint8Array) => { digest(data: Uint8Array, out: Uint8Array): void };
  /** Names the calling OS thread (prctl PR_SET_NAME, at most 15 bytes): what top -H and /proc/PID/task/TID/comm show. */
  setThreadName(name: string): void;
  /** malloc_trim(0): gives the C heap's free pages back to the kernel; true when it released any. */
  mallocTrim(): boolean;
  /** if_nametoindex(3) in the calling thread's network namespace; throws ENODEV. */
  ifNameToIndex(name: string): number;
  /** if_indextoname(3); throws ENXIO. */
  ifIndexToName(ifindex: number): string;
}

// src/netdev/native.ts (run by tsx) and dist/netdev/native.js (built) are both two levels
// below the package root.
const ADDON_PATH = fileURLToPath(new URL('../../native/afpacket/build/Release/afpacket.node', import.meta.url));

let addon: NativeAddon | undefined;

/** Loads the addon once. Throws MissingToolError when it was not built. */
export function loadNative(): NativeAddon {
  if (addon === undefined) {
    const require = createRequire(import.meta.url);
    try {
      addon = require(ADDON_PATH) as NativeAddon;
    } catch (err) {
      throw new MissingToolError(
        `the native addon ${ADDON_PATH} could not be loaded (${String(err)}): ` +
          'build it with `npm rebuild` (Linux, with g++, make and python3 installed)',
        { cause: err },
      );
    }
  }
  return addon;
}

export function isNativeErrnoError(err: unknown): err is NativeErrnoError {
  return err instanceof Error && typeof (err as Partial<NativeErrnoError>).code === 'string' && 'errno' in err;
}
