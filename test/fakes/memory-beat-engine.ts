import type { Clock, Timer } from '../../src/clock/clock.js';
import type { MembershipKey } from '../../src/membership/membership-key.js';
import type { BeatEngine, BeatPath, BeatPathConfig } from '../../src/membership/peer-transport.js';
import { sourceHost } from '../../src/membership/source-host.js';
import { decodeMessage, encodeMessage } from '../../src/membership/wire.js';

/** What the engine model needs from its transport. */
export interface BeatEngineHost {
  readonly clock: Clock;
  /** Sends raw bytes as the transport does. */
  transmit(address: string, data: Uint8Array): void;
  /** Queues a datagram for the owner's next poll(). */
  queue(data: Uint8Array, from: string, at: number): void;
  /** Whether the owner has something queued. */
  queued(): boolean;
  rng(): number;
  /** The owner's wall clock (beat timestamps, skew checks). */
  wallClock(): number;
}

/**
 * A model of the addon's beat fast path and engine thread (native/afpacket/src/datagram-socket.cc)
 * on a virtual clock, for the simulations: the same acceptance (wire.ts's decoder, then receiver,
 * sender, source, skew, the registered incarnation and a sequence number above the last), the
 * same beats every period, the same wakeups (a non-beat datagram queued, a watched sender
 * silent). The owner's wakeup comes asynchronously, as the addon's thread-safe call does.
 */
export class MemoryBeatPath implements BeatPath {
  private config: BeatPathConfig | undefined;
  private keys = new Map<number, MembershipKey>();
  private slotByName = new Map<string, number>();
  readonly engine: MemoryBeatEngine;

  constructor(private readonly host: BeatEngineHost) {
    this.engine = new MemoryBeatEngine(host, this);
  }

  configure(c: BeatPathConfig): boolean {
    const before = this.config?.senders.map((x) => x.name) ?? [];
    this.config = c;
    this.keys = new Map(c.keys.map((k) => [k.id, k]));
    this.slotByName = new Map();
    c.senders.forEach((s, i) => {
      if (!this.slotByName.has(s.name)) this.slotByName.set(s.name, i);
    });
    // As the addon: each slot's state and each target follow the sender's name to its new slot.
    this.engine.remap(before, c.senders.map((x) => x.name));
    return true;
  }

  sendBeat(address: string, keyId: number, receiver: number, incarnation: number, seq: number, timestamp: number): void {
    const c = this.config;
    const key = this.keys.get(keyId);
    if (c === undefined || key === undefined) return;
    this.host.transmit(address, encodeMessage({ type: 'beat', sender: c.self, receiver, incarnation, seq, timestamp }, key));
  }

  onBeat(): void {
    // The model reports beats through its engine only; without it, beats reach onMessage (the JS codec).
  }

  /** The addon's stateless acceptance: a beat for us from a configured sender, from its host, within the skew. */
  classify(data: Uint8Array, from: string): { slot: number; incarnation: number; seq: number } | undefined {
    const c = this.config;
    if (c === undefined || data.length < 4 || data[3] !== 4) return undefined;
    const d = decodeMessage(data, this.keys);
    if (!d.ok || d.message.type !== 'beat') return undefined;
    const m = d.message;
    if (m.receiver !== c.selfId || m.sender === c.self) return undefined;
    const slot = this.slotByName.get(m.sender);
    if (slot === undefined) return undefined;
    const host = c.senders[slot]!.host;
    if (host !== undefined && sourceHost(from) !== host) return undefined;
    if (c.maxClockSkewMs !== undefined && Math.abs(m.timestamp - this.host.wallClock()) > c.maxClockSkewMs) return undefined;
    if (m.incarnation > 2 ** 48) return undefined;
    return { slot, incarnation: m.incarnation, seq: m.seq };
  }
}

export class MemoryBeatEngine implements BeatEngine {
  private timer: Timer | undefined;
  private dueAt = 0;
  private periodMs = 10;
  private jitter = 0;
  private onWake: (() => void) | undefined;
  private wakePending = false;
  private self: { incarnation: number; keyId: number } | undefined;
  private targets: { address: string; receiver: number; slot: number }[] = [];
  private counters: number[] = [];
  private incarnations: number[] = [];
  private high: number[] = [];
  private floors: number[] = [];
  private lastArrival: number[] = [];
  private fresh = new Set<number>();
  /** When the owner last sent each slot a datagram: no beat to it within 1.2 periods of that. */
  private jsSentAt = new Map<number, number>();
  private watched = new Map<number, number>();
  private wakeAfterMs = Infinity;
  private open = false;
  private kickedAt = -Infinity;
  private watchdogMs = 0;
  /** Arrived since the last engine tick, read at the next one (the thread drains the socket per period). */
  private inbox: { data: Uint8Array; from: string; at: number }[] = [];
  readonly stats = { ticks: 0, beatsSent: 0, beatsAccepted: 0, staleBeats: 0, wakes: 0 };

  constructor(
    private readonly host: BeatEngineHost,
    private readonly path: MemoryBeatPath,
  ) {}

  get running(): boolean {
    return this.timer !== undefined;
  }

  remap(before: readonly string[], after: readonly string[]): void {
    const was = new Map<string, number>();
    before.forEach((name, i) => {
      if (!was.has(name)) was.set(name, i);
    });
    const from = after.map((name) => was.get(name));
    const move = (a: number[], v: number): number[] => from.map((i) => (i === undefined ? v : (a[i] ?? v)));
    this.counters = move(this.counters, 0);
    this.incarnations = move(this.incarnations, -1);
    this.floors = move(this.floors, 0);
    this.high = move(this.high, 0);
    this.lastArrival = move(this.lastArrival, -Infinity);
    const slotOf = new Map<number, number>();
    from.forEach((i, slot) => {
      if (i !== undefined && !slotOf.has(i)) slotOf.set(i, slot);
    });
    this.targets = this.targets.flatMap((t) => (slotOf.has(t.slot) ? [{ ...t, slot: slotOf.get(t.slot)! }] : []));
    this.fresh = new Set([...this.fresh].flatMap((i) => (slotOf.has(i) ? [slotOf.get(i)!] : [])));
    this.watched = new Map([...this.watched].flatMap(([i, since]) => (slotOf.has(i) ? [[slotOf.get(i)!, since] as [number, number]] : [])));
    this.jsSentAt.clear();
  }

  start(periodMs: number, jitter: number, onWake: () => void): boolean {
    if (this.timer !== undefined) return false;
    this.periodMs = periodMs;
    this.jitter = jitter;
    this.onWake = onWake;
    this.dueAt = this.host.clock.now();
    this.schedule();
    return true;
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    for (const d of this.inbox) this.host.queue(d.data, d.from, d.at);
    this.inbox = [];
  }

  setSelf(incarnation: number, keyId: number): void {
    // As the addon: counters restart only when the incarnation changes from an earlier call's.
    if (this.self !== undefined && this.self.incarnation !== incarnation) this.counters.fill(0);
    this.self = { incarnation, keyId };
  }

  setTargets(targets: readonly { readonly address: string; readonly receiver: number; readonly slot: number }[]): void {
    this.targets = targets.map((t) => ({ ...t }));
    // As the addon: a skip stays for targets only.
    const slots = new Set(this.targets.map((t) => t.slot));
    for (const slot of [...this.jsSentAt.keys()]) if (!slots.has(slot)) this.jsSentAt.delete(slot);
  }

  setSenders(incarnations: readonly number[], floors: readonly number[]): void {
    incarnations.forEach((inc, i) => {
      if (this.incarnations[i] !== inc || floors[i] !== this.floors[i]) {
        this.incarnations[i] = inc;
        this.floors[i] = floors[i] ?? 0;
        this.high[i] = this.floors[i]!;
      }
    });
  }

  sendSeq(slot: number): number {
    return this.counters[slot] ?? 0;
  }

  setSendSeq(slot: number, seq: number): void {
    this.counters[slot] = seq;
  }

  watch(slots: readonly number[], wakeAfterMs: number): void {
    const now = this.host.clock.now();
    const next = new Map<number, number>();
    for (const s of slots) next.set(s, this.watched.get(s) ?? now);
    this.watched = next;
    this.wakeAfterMs = wakeAfterMs;
  }

  kick(open: boolean, watchdogMs: number): void {
    this.open = open;
    this.watchdogMs = watchdogMs;
    this.kickedAt = this.host.clock.now();
  }

  arrivals(handler: (slot: number, at: number, incarnation: number, seq: number) => void): void {
    const fresh = [...this.fresh].sort((a, b) => a - b);
    this.fresh.clear();
    for (const slot of fresh) handler(slot, this.lastArrival[slot]!, this.incarnations[slot]!, this.high[slot]!);
  }

  sentTo(slot: number): void {
    this.jsSentAt.set(slot, this.host.clock.now());
  }

  counts(): { sent: number; accepted: number } {
    return { sent: this.stats.beatsSent, accepted: this.stats.beatsAccepted };
  }

  /** @internal the transport hands it every datagram while it runs. */
  receive(data: Uint8Array, from: string, at: number): void {
    this.inbox.push({ data, from, at });
  }

  private schedule(): void {
    const period = this.periodMs * (1 - this.jitter + 2 * this.jitter * this.host.rng());
    const now = this.host.clock.now();
    this.dueAt = now - this.dueAt <= this.periodMs ? this.dueAt + period : now + period;
    this.timer = this.host.clock.setTimeout(() => this.tick(), Math.max(0, this.dueAt - now));
  }

  private tick(): void {
    this.stats.ticks++;
    const now = this.host.clock.now();
    for (const d of this.inbox) {
      const b = this.path.classify(d.data, d.from);
      if (b !== undefined && b.incarnation === this.incarnations[b.slot]) {
        if (b.seq <= this.high[b.slot]!) {
          this.stats.staleBeats++;
          continue;
        }
        this.high[b.slot] = b.seq;
        this.lastArrival[b.slot] = Math.max(this.lastArrival[b.slot]!, d.at);
        this.fresh.add(b.slot);
        this.stats.beatsAccepted++;
        continue;
      }
      this.host.queue(d.data, d.from, d.at);
    }
    this.inbox = [];
    const self = this.self;
    if (self !== undefined && this.open && now - this.kickedAt <= this.watchdogMs) {
      const wall = Math.floor(this.host.wallClock());
      for (const t of this.targets) {
        if (now - (this.jsSentAt.get(t.slot) ?? -Infinity) < 1.2 * this.periodMs) continue;
        this.counters[t.slot] = (this.counters[t.slot] ?? 0) + 1;
        this.path.sendBeat(t.address, self.keyId, t.receiver, self.incarnation, this.counters[t.slot]!, wall);
        this.stats.beatsSent++;
      }
    }
    let wake = this.host.queued();
    for (const [slot, since] of this.watched) if (now - Math.max(this.lastArrival[slot]!, since) > this.wakeAfterMs) wake = true;
    if (wake && !this.wakePending) {
      this.wakePending = true;
      this.stats.wakes++;
      this.host.clock.setTimeout(() => {
        this.wakePending = false;
        if (this.timer !== undefined) this.onWake?.();
      }, 0);
    }
    this.schedule();
  }
}
