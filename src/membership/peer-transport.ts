import type { MembershipKey } from './membership-key.js';

/** What a beat fast path accepts beats from (BeatPath.configure). */
export interface BeatPathConfig {
  /** Our node name: beats carry it, and one claiming it is refused (reflected). */
  readonly self: string;
  /** Our member id: a beat for another receiver is refused. */
  readonly selfId: number;
  /** Every key we verify with; beats we send use the one named in `sendBeat`. */
  readonly keys: readonly MembershipKey[];
  /** Slot = index: `onBeat` names the sender by it. `host`: the only source IP its beats may come from (undefined: any). */
  readonly senders: readonly { readonly name: string; readonly host: string | undefined }[];
  readonly maxClockSkewMs: number | undefined;
}

/**
 * A native engine that runs the heartbeat period on its own thread (the addon's DatagramSocket
 * engine; test/fakes/memory-transport.ts models it on a virtual clock): every `periodMs` it reads
 * the socket, accepts beats (the BeatPath checks, the sender's registered incarnation, a sequence
 * number above the last), sends a beat to every target, and wakes the membership only when a
 * non-beat datagram is queued for it (read by poll()) or a watched sender has been silent for
 * longer than `wakeAfterMs`. The membership then ticks at its own slow pace in between.
 */
export interface BeatEngine {
  /** False: it cannot run here (the membership then ticks every heartbeat, as without it). */
  start(periodMs: number, jitter: number, onWake: () => void): boolean;
  /** Idempotent. Queued datagrams stay readable by poll(). */
  stop(): void;
  /** What our beats carry: our incarnation and the key they are MACed with. */
  setSelf(incarnation: number, keyId: number): void;
  /** Whom to beat every period (slot: the BeatPathConfig sender index of the receiver). */
  setTargets(targets: readonly { readonly address: string; readonly receiver: number; readonly slot: number }[]): void;
  /** Per slot: the incarnation an accepted beat must carry (-1: none; such beats are queued) and the newest sequence number already seen. */
  setSenders(incarnations: readonly number[], floors: readonly number[]): void;
  /** Senders whose silence longer than wakeAfterMs wakes us (every period while it lasts). */
  watch(slots: readonly number[], wakeAfterMs: number): void;
  /** Beats go out only while `open`, and for at most `watchdogMs` after the last kick (a hung caller stops them). */
  kick(open: boolean, watchdogMs: number): void;
  /**
   * Beats accepted since the last call: `handler(slot, at, incarnation, seq)` for the newest of
   * each sender: `at` its arrival on the owner's clock, the incarnation it was accepted at, the
   * sender's high-water sequence number.
   */
  arrivals(handler: (slot: number, at: number, incarnation: number, seq: number) => void): void;
  /** The last beat sequence number sent to `slot` (its counter). */
  sendSeq(slot: number): number;
  /** Sets the counter of `slot` (the next beat carries seq + 1): beats keep counting forward across a restart of the engine or a peer's removal. */
  setSendSeq(slot: number, seq: number): void;
  /**
   * We just sent `slot` another datagram (proof of life too): no beat goes to it within 1.2
   * periods of now, so while we send it something every tick (news) the engine sends it nothing,
   * and news costs no extra datagram. The receiver's gap between two datagrams from us is then at
   * most 2.2 periods.
   */
  sentTo(slot: number): void;
  /** Beats it sent and accepted since it was created (cumulative). */
  counts(): { readonly sent: number; readonly accepted: number };
}

/**
 * Optional fast path for beats (wire type 4, a heartbeat with nothing to say): the transport
 * builds them and recognises valid ones without creating a JavaScript object per datagram
 * (PolledUdpTransport with the addon's DatagramSocket). It checks exactly what decodeMessage
 * and the membership's stateless checks would (structure, key, MAC, receiver, sender, source,
 * clock skew); a datagram that fails any check goes to `onMessage` as usual, so the membership
 * names the reason. The membership keeps the stateful checks (replay window, incarnation).
 */
export interface BeatPath {
  /** Applies at once; false: the fast path cannot run (the membership then sends and reads beats as ordinary datagrams). */
  configure(c: BeatPathConfig): boolean;
  /** Sends one beat; never throws (a failed send is a lost datagram). */
  sendBeat(address: string, keyId: number, receiver: number, incarnation: number, seq: number, timestamp: number): void;
  /** Called from poll() for each accepted beat, before the ordinary datagrams of the same poll; `at` as in onMessage. */
  onBeat(handler: (slot: number, keyId: number, incarnation: number, seq: number, at: number) => void): void;
  /** Present when the beats can run on their own thread (configure() first; its slots are the engine's). */
  readonly engine?: BeatEngine;
}

/**
 * Port: datagrams between membership peers. Addresses are opaque strings to the core
 * ('host:port' or '[v6]:port' for UDP). Delivery is best effort: datagrams may be lost,
 * duplicated or reordered, and the core copes (replay window, timeouts).
 *
 * Real adapter: UdpTransport (udp-transport.ts). In-memory fake: MemoryNetwork (test/fakes/memory-transport.ts).
 */
export interface PeerTransport {
  /** Opens the socket; resolves once datagrams can be sent and received. */
  start(): Promise<void>;
  /** Closes the socket; no handler call happens after it resolves. */
  stop(): Promise<void>;
  /**
   * Sends one datagram; never throws (a failed send is a lost datagram). Takes ownership of
   * `data`: the caller must not modify it afterwards (UDP sends are asynchronous).
   */
  send(address: string, data: Uint8Array): void;
  /**
   * Sets the receive handler; `from` is the source address in the same syntax as `send`, `at`
   * when the datagram arrived on the owner's clock (absent: now).
   */
  onMessage(handler: (data: Uint8Array, from: string, at?: number) => void): void;
  /**
   * Present on a transport that delivers nothing on its own (PolledUdpTransport): the owner calls
   * it, once per tick, and the handler runs synchronously for every datagram queued since, with
   * its arrival time. Datagrams then cost no wakeup of their own (docs/membership.md#cost).
   */
  poll?(): void;
  /** Present when the transport can build and check beats natively (see BeatPath). */
  readonly beats?: BeatPath;
}
