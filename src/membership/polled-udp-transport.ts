import type { Clock } from '../clock/clock.js';
import { formatHostPort, type HostPort, parseHostPort } from '../ip/host-port.js';
import { loadNative, type NativeAddon, type NativeDatagramSocket } from '../netdev/native.js';
import type { Logger } from '../observability/logger.js';
import type { BeatEngine, BeatPath, BeatPathConfig, PeerTransport } from './peer-transport.js';
import { PeerTargets, SourceTexts } from './udp-addresses.js';

export interface PolledUdpTransportOptions {
  /** Local 'address:port' to bind, e.g. '0.0.0.0:7946' or '[::]:7946' (port 0: any free port). */
  readonly bind: string;
  /** The owner's clock: arrival times are given on it. */
  readonly clock: Clock;
  readonly logger?: Logger;
  /** Most datagrams one poll() reads (default 4096): bounds a tick under a flood; the rest waits in the kernel's queue. */
  readonly maxPerPoll?: number;
  /** Receive queue limit in bytes (default 1 MiB; 0: the kernel's default). */
  readonly receiveBufferBytes?: number;
  /** The addon (tests); default loadNative(). */
  readonly native?: NativeAddon;
  /** Most beats one poll() reports as numbers (default 1024); more come through onMessage, as ordinary datagrams. */
  readonly maxBeatsPerPoll?: number;
  /** Offer the addon's beat engine (BeatPath.engine; default true). false: the membership ticks every heartbeat. */
  readonly engine?: boolean;
}

const utf8 = new TextEncoder();
/** Numbers per beat record in the addon's output (slot, key id, incarnation, seq, age in µs). */
const RECORD = 5;

/**
 * PeerTransport over UDP that nothing watches: the membership reads it once per heartbeat tick
 * (poll), so a received datagram costs no event-loop wakeup of its own, and a node's wakeups
 * are its ticks whatever the number of peers (docs/membership.md#cost). Each datagram comes with
 * the kernel's receive time (SO_TIMESTAMPNS), so reading late does not make a peer look older:
 * evidence is dated when it arrived, not when it was read. Sends are plain non-blocking
 * sendto(2) calls. An IPv6 bind address opens a dual-stack socket (IPv4 peers are reported in
 * IPv4 syntax); an IPv4 bind address reaches IPv4 peers only.
 */
export class PolledUdpTransport implements PeerTransport {
  private socket: NativeDatagramSocket | undefined;
  private handler: ((data: Uint8Array, from: string, at?: number) => void) | undefined;
  private beatHandler: ((slot: number, keyId: number, incarnation: number, seq: number, at: number) => void) | undefined;
  /** The addon's beat records, while its fast path is configured. */
  private records: Float64Array | undefined;
  /** The engine's arrivals: [slot, age µs, incarnation, seq] records. */
  private readonly arrivalsOut = new Float64Array(4 * 1024);
  private engineRunning = false;
  private enginePeriodMs = 10;
  private lastArrivalsAt = 0;
  private lastEngineCounts = { sent: 0, accepted: 0 };
  private readonly bind: HostPort;
  private readonly log: Logger | undefined;
  private readonly targets: PeerTargets<Buffer>;
  private readonly sources = new SourceTexts();
  private readonly maxPerPoll: number;
  private lastSendError = -Infinity;
  /** When the previous poll (or start) read the socket: no datagram read now is older. */
  private lastPollAt = 0;
  private lastReceiveError = -Infinity;

  constructor(private readonly o: PolledUdpTransportOptions) {
    this.bind = parseHostPort(o.bind, 'membership.bind');
    this.log = o.logger?.child({ component: 'udp-transport' });
    this.maxPerPoll = o.maxPerPoll ?? 4096;
    this.targets = new PeerTargets(this.bind, (hp) => this.openSocket().target(hp.host, hp.port), this.log);
    this.beats = {
      configure: (c) => this.configureBeats(c),
      sendBeat: (address, keyId, receiver, incarnation, seq, timestamp) => {
        const socket = this.socket;
        if (socket?.sendBeat === undefined) return;
        const to = this.targets.get(address);
        if (to === null) return;
        const errno = socket.sendBeat(to, keyId, receiver, incarnation, seq, timestamp);
        if (errno !== 0) this.rateLimited('send', errno, address);
      },
      onBeat: (handler) => {
        this.beatHandler = handler;
      },
      engine: this.o.engine === false ? undefined : this.makeEngine(),
    };
  }

  /** The bound 'address:port' (the real port when bound to port 0). Only after start(). */
  address(): string {
    if (this.socket === undefined) throw new Error('PolledUdpTransport.address() called before start()');
    return formatHostPort(this.bind.host, this.socket.port);
  }

  /** Binds the socket; calling it again while bound does nothing. Rejects with the bind error (EADDRINUSE, ...). */
  start(): Promise<void> {
    if (this.socket !== undefined) return Promise.resolve();
    try {
      const native = this.o.native ?? loadNative();
      this.socket = new native.DatagramSocket(this.bind.family, this.bind.host, this.bind.port, this.o.receiveBufferBytes ?? 1 << 20);
      this.lastPollAt = this.o.clock.now();
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  stop(): Promise<void> {
    this.beats.engine?.stop();
    this.socket?.close();
    this.socket = undefined;
    this.records = undefined;
    return Promise.resolve();
  }

  /**
   * The addon's beat fast path (DatagramSocket.setBeats/sendBeat), when the socket has it: beats
   * are built, sent, recognised and reported without a JavaScript object per datagram.
   */
  readonly beats: BeatPath;

  /** The addon's engine thread (DatagramSocket.startEngine and engine*), when the socket has it. */
  private makeEngine(): BeatEngine {
    const running = (): NativeDatagramSocket | undefined => (this.engineRunning ? this.socket : undefined);
    return {
      start: (periodMs, jitter, onWake) => {
        const socket = this.socket;
        if (socket?.startEngine === undefined || this.records === undefined) return false;
        try {
          socket.startEngine(periodMs, jitter, onWake);
        } catch (err) {
          this.log?.warn({ err }, 'membership beat engine unavailable; the membership ticks every heartbeat');
          return false;
        }
        this.engineRunning = true;
        this.enginePeriodMs = periodMs;
        this.lastArrivalsAt = this.o.clock.now();
        return true;
      },
      stop: () => {
        if (!this.engineRunning) return;
        this.lastEngineCounts = this.engineCounts();
        this.engineRunning = false;
        this.socket?.stopEngine?.();
      },
      setSelf: (incarnation, keyId) => running()?.engineSelf?.(incarnation, keyId),
      setTargets: (targets) => {
        const socket = running();
        if (socket === undefined) return;
        const out = [];
        for (const t of targets) {
          const to = this.targets.get(t.address);
          if (to !== null) out.push({ target: to, receiverId: t.receiver, slot: t.slot });
        }
        socket.engineTargets?.(out);
      },
      setSenders: (incarnations, floors) => running()?.engineSenders?.(Float64Array.from(incarnations), Float64Array.from(floors)),
      watch: (slots, wakeAfterMs) => running()?.engineWatch?.([...slots], wakeAfterMs),
      kick: (open, watchdogMs) => running()?.engineKick?.(open, watchdogMs),
      sentTo: (slot) => running()?.engineSkip?.(slot),
      arrivals: (handler) => {
        const socket = running();
        if (socket?.engineArrivals === undefined) return;
        // Before the read, as for poll(): ages are against one wall-clock reading taken as it begins.
        const now = this.o.clock.now();
        // A wall clock stepped forward must not date a beat hours back: none reported now arrived
        // before the previous read (less the engine's one period of draining).
        const maxAgeMs = Math.max(0, now - this.lastArrivalsAt) + 2 * this.enginePeriodMs;
        this.lastArrivalsAt = now;
        const out = this.arrivalsOut;
        for (;;) {
          const n = socket.engineArrivals(out);
          for (let i = 0, o = 0; i < n; i++, o += 4) handler(out[o]!, now - Math.min(out[o + 1]! / 1000, maxAgeMs), out[o + 2]!, out[o + 3]!);
          if (n < out.length / 4) return;
        }
      },
      sendSeq: (slot) => running()?.engineSendSeq?.(slot) ?? 0,
      setSendSeq: (slot, seq) => running()?.engineSetSeq?.(slot, seq),
      counts: () => (this.engineRunning ? this.engineCounts() : this.lastEngineCounts),
    };
  }

  private engineCounts(): { sent: number; accepted: number } {
    const s = this.socket?.engineStats?.();
    return s === undefined ? this.lastEngineCounts : { sent: s.beatsSent, accepted: s.beatsAccepted };
  }

  private configureBeats(c: BeatPathConfig): boolean {
    const socket = this.socket;
    if (socket?.setBeats === undefined || socket.sendBeat === undefined) return false;
    const records = this.records ?? new Float64Array(1 + RECORD * (this.o.maxBeatsPerPoll ?? 1024));
    try {
      socket.setBeats({
        self: utf8.encode(c.self),
        selfId: c.selfId,
        keys: c.keys.map((k) => ({ id: k.id, secret: k.secret })),
        senders: c.senders.map((x) => ({ name: utf8.encode(x.name), host: x.host ?? null })),
        maxClockSkewMs: c.maxClockSkewMs ?? null,
        records,
      });
    } catch (err) {
      // A peer host the addon cannot parse, or OpenSSL without HMAC: beats go through the JS codec.
      this.log?.warn({ err }, 'membership beat fast path unavailable; beats are handled in JavaScript');
      socket.setBeats(null);
      this.records = undefined;
      return false;
    }
    this.records = records;
    return true;
  }

  send(address: string, data: Uint8Array): void {
    const socket = this.socket;
    if (socket === undefined) return;
    const to = this.targets.get(address);
    if (to === null) return;
    const errno = socket.send(to, data);
    if (errno !== 0) this.rateLimited('send', errno, address);
  }

  onMessage(handler: (data: Uint8Array, from: string, at?: number) => void): void {
    this.handler = handler;
  }

  /** Delivers every datagram queued since the last call (up to maxPerPoll), in arrival order, with its arrival time. */
  poll(): void {
    const socket = this.socket;
    if (socket === undefined) return;
    // Before the read: the addon measures every age against one wall-clock reading taken as the
    // read begins, so a long read (a flood) dates nothing fresher than it arrived.
    const now = this.o.clock.now();
    const got = socket.receive(this.maxPerPoll);
    // Ages come from the wall clock (the kernel stamps CLOCK_REALTIME): a clock stepped forward
    // between arrival and this read would date a datagram hours back. Nothing read now arrived
    // before the previous poll began (unless that poll hit maxPerPoll: then it only looks newer).
    const maxAgeMs = Math.max(0, now - this.lastPollAt);
    this.lastPollAt = now;
    const records = this.records;
    const beats = records === undefined ? 0 : records[0]!;
    for (let i = 0, o = 1; i < beats; i++, o += RECORD) {
      if (this.socket === undefined) return;
      this.beatHandler?.(records![o]!, records![o + 1]!, records![o + 2]!, records![o + 3]!, now - Math.min(records![o + 4]! / 1000, maxAgeMs));
    }
    if (got === null) return;
    if (got.error !== undefined) this.rateLimited('receive', got.error.errno, undefined);
    for (let i = 0; i < got.data.length; i++) {
      // The handler may stop the transport (a leave); what is left of the batch is dropped then.
      if (this.socket === undefined) return;
      this.handler?.(got.data[i]!, this.sources.text(got.hosts[i]!, got.ports[i]!), now - Math.min(got.agesUs[i]! / 1000, maxAgeMs));
    }
  }

  private openSocket(): NativeDatagramSocket {
    if (this.socket === undefined) throw new Error('PolledUdpTransport: not started');
    return this.socket;
  }

  /** A failing socket is logged at most once per 10 s (at debug for sends: a lost datagram is ordinary). */
  private rateLimited(what: 'send' | 'receive', errno: number, node: string | undefined): void {
    const now = this.o.clock.now();
    const last = what === 'send' ? this.lastSendError : this.lastReceiveError;
    if (now - last < 10_000) return;
    if (what === 'send') {
      this.lastSendError = now;
      this.log?.debug({ errno, node }, 'membership send failed');
    } else {
      this.lastReceiveError = now;
      this.log?.warn({ errno }, 'membership socket receive error');
    }
  }
}
