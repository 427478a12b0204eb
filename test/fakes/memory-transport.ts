import type { Clock } from '../../src/clock/clock.js';
import type { PeerTransport } from '../../src/membership/peer-transport.js';
import { seededRandom } from '../helpers/seeded-random.js';
import { MemoryBeatPath } from './memory-beat-engine.js';

export interface MemoryNetworkOptions {
  /** Drives delivery: datagrams arrive through `clock.setTimeout`, never synchronously. */
  readonly clock: Clock;
  /** Seed of the RNG that decides losses and jitter (default 1). */
  readonly seed?: number;
  /** Loss probability of every link, 0..1 (default 0). */
  readonly loss?: number;
  /** One-way delay in ms (default 0.2). */
  readonly delayMs?: number;
  /** Extra uniformly random delay in ms, 0..jitterMs (default 0): reorders datagrams. */
  readonly jitterMs?: number;
  /**
   * Like PolledUdpTransport (what the membership worker runs): a datagram waits at its receiver
   * until the owner calls poll(), and is then delivered with its arrival time. Default false:
   * delivered on arrival.
   */
  readonly polled?: boolean;
  /**
   * Each transport also offers the beat fast path and engine (a model of the addon's, see
   * memory-beat-engine.ts), as PolledUdpTransport does with the addon; implies `polled`.
   */
  readonly engine?: boolean;
  /** Wall clock of the nodes (beat timestamps); default the virtual clock's ms. */
  readonly wallClock?: () => number;
}

/** Counters of the whole network. */
export interface MemoryNetworkStats {
  sent: number;
  delivered: number;
  lost: number;
  blocked: number;
  /** Arrived at a transport that was stopped or never started. */
  unreachable: number;
}

type Sniffer = (from: string, to: string, data: Uint8Array) => void;

/**
 * An in-memory datagram network for tests and simulations: per-link loss with a seeded RNG,
 * delay and jitter on the virtual clock, and partitions (blocked directed links). Every
 * datagram is copied, so a receiver never aliases a sender's buffer.
 */
export class MemoryNetwork {
  readonly stats: MemoryNetworkStats = { sent: 0, delivered: 0, lost: 0, blocked: 0, unreachable: 0 };
  private readonly clock: Clock;
  private readonly rng: () => number;
  private readonly transports = new Map<string, MemoryTransport>();
  private readonly linkLoss = new Map<string, number>();
  private readonly blocked = new Set<string>();
  private readonly sniffers = new Set<Sniffer>();
  private loss: number;
  private delayMs: number;
  private jitterMs: number;
  readonly polled: boolean;
  readonly engine: boolean;
  readonly wallClock: () => number;

  constructor(options: MemoryNetworkOptions) {
    this.engine = options.engine ?? false;
    this.polled = this.engine || (options.polled ?? false);
    this.clock = options.clock;
    this.wallClock = options.wallClock ?? (() => this.clock.now());
    this.rng = seededRandom(options.seed ?? 1);
    this.loss = options.loss ?? 0;
    this.delayMs = options.delayMs ?? 0.2;
    this.jitterMs = options.jitterMs ?? 0;
  }

  /** @internal the clock the engine models run on. */
  clockOf(): Clock {
    return this.clock;
  }

  /** The transport bound to `address` (created on first use). */
  transport(address: string): MemoryTransport {
    let t = this.transports.get(address);
    if (t === undefined) {
      t = new MemoryTransport(this, address);
      this.transports.set(address, t);
    }
    return t;
  }

  /** Loss probability of every link without a per-link setting. */
  setLoss(probability: number): void {
    this.loss = probability;
  }

  /** Loss probability of the directed link from -> to. */
  setLinkLoss(from: string, to: string, probability: number): void {
    this.linkLoss.set(linkKey(from, to), probability);
  }

  setDelay(delayMs: number, jitterMs = 0): void {
    this.delayMs = delayMs;
    this.jitterMs = jitterMs;
  }

  /** Drops every datagram from -> to (one direction). */
  block(from: string, to: string): void {
    this.blocked.add(linkKey(from, to));
  }

  unblock(from: string, to: string): void {
    this.blocked.delete(linkKey(from, to));
  }

  /** Blocks both directions between every address of `a` and every address of `b`. */
  partition(a: readonly string[], b: readonly string[]): void {
    for (const x of a) {
      for (const y of b) {
        this.block(x, y);
        this.block(y, x);
      }
    }
  }

  /** Removes every block. */
  heal(): void {
    this.blocked.clear();
  }

  /** Sees every datagram sent (before loss and blocks), e.g. to capture and replay it. Returns an unsubscribe. */
  sniff(handler: Sniffer): () => void {
    this.sniffers.add(handler);
    return () => this.sniffers.delete(handler);
  }

  /** Delivers raw bytes to `to` as if `from` had sent them (an attacker on the path), subject to delay only. */
  inject(from: string, to: string, data: Uint8Array): void {
    this.schedule(from, to, data.slice());
  }

  /** @internal used by MemoryTransport */
  transmit(from: string, to: string, data: Uint8Array): void {
    this.stats.sent++;
    const copy = data.slice();
    for (const s of this.sniffers) s(from, to, copy.slice());
    if (this.blocked.has(linkKey(from, to))) {
      this.stats.blocked++;
      return;
    }
    const loss = this.linkLoss.get(linkKey(from, to)) ?? this.loss;
    if (loss > 0 && this.rng() < loss) {
      this.stats.lost++;
      return;
    }
    this.schedule(from, to, copy);
  }

  private schedule(from: string, to: string, data: Uint8Array): void {
    const delay = this.delayMs + (this.jitterMs > 0 ? this.rng() * this.jitterMs : 0);
    this.clock.setTimeout(() => {
      const target = this.transports.get(to);
      if (target === undefined || !target.deliver(data, from, this.clock.now())) this.stats.unreachable++;
      else this.stats.delivered++;
    }, delay);
  }
}

function linkKey(from: string, to: string): string {
  return `${from}\u0000${to}`;
}

/**
 * One endpoint of a MemoryNetwork. `stop()` makes it silent in both directions at once, which
 * is how tests simulate a crashed node: its peers just stop hearing from it.
 */
export class MemoryTransport implements PeerTransport {
  private handler: ((data: Uint8Array, from: string, at?: number) => void) | undefined;
  private running = false;
  /** Polled network: arrived, not yet read. */
  private queue: { data: Uint8Array; from: string; at: number }[] = [];
  /** The beat fast path and engine model, on an engine network. */
  readonly beats: MemoryBeatPath | undefined;

  constructor(
    private readonly network: MemoryNetwork,
    readonly address: string,
  ) {
    const rng = seededRandom([...address].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 7));
    this.beats = network.engine
      ? new MemoryBeatPath({
          clock: network.clockOf(),
          transmit: (to, data) => this.send(to, data),
          queue: (data, from, at) => void this.queue.push({ data, from, at }),
          queued: () => this.queue.length > 0,
          rng,
          wallClock: network.wallClock,
        })
      : undefined;
  }

  get isRunning(): boolean {
    return this.running;
  }

  start(): Promise<void> {
    this.running = true;
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.running = false;
    this.beats?.engine.stop();
    this.queue = [];
    return Promise.resolve();
  }

  send(address: string, data: Uint8Array): void {
    if (this.running) this.network.transmit(this.address, address, data);
  }

  onMessage(handler: (data: Uint8Array, from: string, at?: number) => void): void {
    this.handler = handler;
  }

  /** On a polled network, delivers what arrived since the last call, with arrival times; else nothing to do. */
  poll(): void {
    const q = this.queue;
    this.queue = [];
    for (const d of q) {
      if (!this.running) return;
      this.handler?.(d.data, d.from, d.at);
    }
  }

  /** @internal called by the network; false when this endpoint is not receiving. */
  deliver(data: Uint8Array, from: string, at: number): boolean {
    if (!this.running || this.handler === undefined) return false;
    if (this.beats?.engine.running === true) this.beats.engine.receive(data, from, at);
    else if (this.network.polled) this.queue.push({ data, from, at });
    else this.handler(data, from);
    return true;
  }
}
