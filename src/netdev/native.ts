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

/** One destination of the beat engine's beats (DatagramSocket.engineTargets). */
export interface NativeEngineTarget {
  /** The sockaddr from target(). */
  readonly target: Uint8Array;
  /** The receiver id the beats carry (the peer's member id, u32). */
  readonly receiverId: number;
  /** The peer's slot (index into the setBeats senders): whose beat counter numbers these beats. */
  readonly slot: number;
}

/** DatagramSocket.engineStats(): cumulative counts since the socket was made, and the queue's length now. */
export interface NativeEngineStats {
  /** Engine ticks run. */
  readonly ticks: number;
  /** Beats sent (sendmmsg accepted them). */
  readonly beatsSent: number;
  /** Beats accepted: at the slot's registered incarnation, above its high-water mark. */
  readonly beatsAccepted: number;
  /** Acceptable beats at the registered incarnation with a seq at or below the high-water mark: dropped. */
  readonly staleBeats: number;
  /** Datagrams queued for receive(). */
  readonly queued: number;
  /** Datagrams dropped because 4096 were already queued. */
  readonly queueDrops: number;
  /** onWake calls made. */
  readonly wakes: number;
  /** Beats not sent: a failed send, a key id we do not hold, a target whose slot no longer exists, a failed HMAC. */
  readonly sendErrors: number;
  /** recvmmsg failures other than "nothing queued" (the drain is tried again at the next tick). */
  readonly receiveErrors: number;
  /** Datagrams queued now. */
  readonly queueLength: number;
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
   * While the beat engine runs (startEngine), returns only what the engine queued (ages from the
   * kernel's stamps, as above) and never reads the socket; after stopEngine, what is still
   * queued comes first.
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
  /**
   * Starts the beat engine: one thread (named l2vip-beats) that does the failure detector's
   * periodic work, so JavaScript wakes only when it has something to do. Each tick (period
   * drawn anew in periodMs x [1 - jitter, 1 + jitter], due times following each other like a
   * metronome) it:
   * 1. drains the socket: a beat acceptable by the setBeats rules, at the incarnation
   *    engineSenders registered for its slot, with a seq above the slot's high-water mark, is
   *    accepted (reported by engineArrivals); one at or below the mark is dropped (staleBeats);
   *    any other datagram (a beat at another incarnation included) is queued for receive()
   *    (at most 4096, then dropped: queueDrops);
   * 2. sends a beat to every engineTargets target (seq = ++counter of its slot; engineSelf's
   *    incarnation and key; wall-clock timestamp) if engineSelf was called, the gate is open
   *    and the last engineKick is at most watchdogMs old;
   * 3. calls onWake() (on this thread's event loop, at most one call pending) when datagrams
   *    are queued or a watched slot's last accepted beat (or when it became watched, if later)
   *    is more than wakeAfterMs old; again at every tick while so.
   * While it runs, receive() returns queued datagrams only (and sets records[0] = 0); after
   * stopEngine, queued datagrams first, then the socket's. onWake is held until the engine
   * stops: if it refers to the socket, the socket is not garbage collected before stopEngine.
   * An exception thrown by onWake is uncaught (process 'uncaughtException'), as from a timer.
   * periodMs 1..3600000, jitter 0..0.5. Throws if running, closed, or setBeats is off.
   * Absent from an addon built before it (as are the other engine* methods).
   */
  startEngine?(periodMs: number, jitter: number, onWake: () => void): void;
  /** Stops the engine and joins its thread; idempotent. close() and garbage collection do it too. */
  stopEngine?(): void;
  /** What beats are sent with: incarnation 0..2^48, key id (one of setBeats' keys). An incarnation other than the previous call's resets every slot's counter to 0. */
  engineSelf?(incarnation: number, keyId: number): void;
  /** Replaces the engine's targets; slot counters persist. RangeError for a slot the config has not. */
  engineTargets?(targets: readonly NativeEngineTarget[]): void;
  /**
   * Per slot (both arrays one entry per setBeats sender): the incarnation a beat must carry to be
   * accepted by the engine (-1: none, all its beats are queued) and the initial high-water mark
   * (beats at or below it are stale). A changed incarnation or floor resets the mark to the floor
   * and drops the slot's unreported arrival (its time still counts for engineWatch).
   */
  engineSenders?(incarnations: Float64Array, floors: Float64Array): void;
  /** Replaces the watched slots; a newly watched slot counts its silence from now. */
  engineWatch?(slots: readonly number[], wakeAfterMs: number): void;
  /** The gate (beats are sent only while open) and the JS side's proof of life: none are sent once the last kick is more than watchdogMs old. */
  engineKick?(open: boolean, watchdogMs: number): void;
  /**
   * For each slot with beats accepted since the last call (in slot order, at most
   * out.length / 4; the rest wait for the next call): out[4i] = slot, out[4i+1] = how long ago
   * (µs, >= 0, one wall-clock reading at call entry) its latest accepted beat arrived (kernel
   * stamp), out[4i+2] = the incarnation it was accepted at, out[4i+3] = the slot's high-water seq.
   * Returns how many were written.
   */
  engineArrivals?(out: Float64Array): number;
  /** ++counter of the slot: the seq for a message JS itself sends that peer, from the sequence the engine's beats use. */
  engineNextSeq?(slot: number): number;
  /** Sets the slot's counter (the next beat carries seq + 1). */
  engineSetSeq?(slot: number, seq: number): void;
  /** The slot's next beat is not sent (JS just sent that peer a datagram, which is proof of life too). RangeError for a slot the config has not. */
  engineSkip?(slot: number): void;
  /** The last beat seq the engine sent the slot (its counter). RangeError for a slot the config has not. */
  engineSendSeq?(slot: number): number;
  /** Cumulative engine counts. */
  engineStats?(): NativeEngineStats;
  /** Closes the fd (stopping the engine first). Idempotent; garbage collection does it too. */
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
  /** v8::Isolate::LowMemoryNotification() on this thread's isolate: full GCs that shrink the heap's spaces (a pause). Absent from an addon built before it. */
  lowMemoryNotification?(): void;
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
