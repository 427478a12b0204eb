import type { Clock, Timer } from '../clock/clock.js';

/**
 * When gratuitous announcements are sent for an IP this node has just gained.
 *
 * - t = 0: at once, so clients move as soon as ownership does.
 * - t = 50 ms: a repeat, so one lost frame costs at most 50 ms, not a second.
 * - t = 1.1 s, 2.2 s, 4.4 s: repeats outside Linux's neighbour `locktime` (1 s,
 *   net.ipv4.neigh.*.locktime): a client that took a stale reply from the old owner less than
 *   1 s before our first announcement ignores it, but not these (MetalLB uses 1.1 s for the
 *   same reason, its issue #172).
 * - then every `refreshMs` while owned, so switch FDBs and client caches never age out
 *   (MetalLB sends nothing after its 5 s burst).
 */
export interface GarpTiming {
  /** Offsets from the gain, in ms, of the initial burst. Must be ascending and start at 0. */
  readonly burstMs: readonly number[];
  /** Period of the refresh after the burst; 0 disables it. */
  readonly refreshMs: number;
}

export const DEFAULT_GARP_TIMING: GarpTiming = {
  burstMs: [0, 50, 1100, 2200, 4400],
  refreshMs: 30_000,
};

/** Validates a timing given by a user; returns a message or undefined. */
export function checkGarpTiming(t: GarpTiming): string | undefined {
  if (t.burstMs.length === 0 || t.burstMs[0] !== 0) return 'the burst must start at 0 ms';
  for (let i = 1; i < t.burstMs.length; i++) {
    if (t.burstMs[i]! <= t.burstMs[i - 1]!) return 'burst offsets must be strictly ascending';
  }
  if (t.refreshMs !== 0 && t.refreshMs < 1000) return 'refresh must be 0 (off) or at least 1000 ms';
  return undefined;
}

/**
 * How fast gratuitous announcements leave, whatever the number of IPs: a token bucket of
 * announcements (an IPv4 announcement is two frames, request and reply form; IPv6 one NA).
 *
 * - `perSecond` 5 000 (10 000 IPv4 frames/s, about 5 Mbit/s of minimum-size frames): 10 000
 *   newly gained VIPs all get their first announcement within 2 s, and the refreshes of 10 000
 *   VIPs (one per VIP every 30 s, 333/s) use a fifteenth of it.
 * - `burst` 100 (200 frames): what may leave at once. Below the default transmit queue of a NIC
 *   (txqueuelen 1000) and the default socket send buffer (net.core.wmem_default 212 992 bytes;
 *   a minimum-size frame is charged about 768 bytes of skb until the NIC has sent it, so about
 *   270 frames in flight), so a burst of 20 000 frames never meets ENOBUFS: it is spread over
 *   the following seconds instead.
 *
 * Order when announcements wait for tokens: newest gain first (a failover during a big start-up
 * burst is announced next, not behind thousands of start-up frames), and within a gain the first
 * announcement of every IP (in the order given) before the quick repeats (burst offsets under
 * 1 s); then everything else (later repeats and refreshes), oldest due first. A late
 * announcement shifts the rest of its schedule, so repeats stay locktime apart.
 */
export interface GarpPacing {
  readonly perSecond: number;
  readonly burst: number;
}

export const DEFAULT_GARP_PACING: GarpPacing = { perSecond: 5_000, burst: 100 };

/** When tokens run out, the scheduler wakes again after at least this long (fewer, larger batches). */
const STARVED_WAIT_MS = 10;

/** 0: first announcement of a gain; 1: quick repeat (offset < 1 s); 2: the rest. */
type Priority = 0 | 1 | 2;

interface Entry<K> {
  readonly key: K;
  /** Index of the step to send next (burst index; burst length means a refresh). */
  readonly index: number;
  readonly due: number;
  readonly priority: Priority;
  /** The gain this announcement belongs to: its first and quick repeats go before older gains'. */
  readonly batch: number;
  readonly seq: number;
}

/** What the scheduler measured, for logs and metrics. */
export interface GarpStats {
  /** Announcements sent. */
  sent: number;
  /** Longest wait of a first announcement for a token, ms. */
  maxFirstDelayMs: number;
}

/**
 * Runs the schedule of each key (an IP, or an IP on one interface) on the injected clock, paced
 * by a token bucket (GarpPacing), with one timer for all keys. `start` on a key that is already
 * scheduled restarts its burst (a re-gain, or the link came back); `cancel` stops it at once.
 */
export class GarpScheduler<K> {
  private readonly entries = new Map<K, Entry<K>>();
  /** Per priority; entries no longer in `entries` are skipped when they reach the top. */
  private readonly heaps: [Heap<Entry<K>>, Heap<Entry<K>>, Heap<Entry<K>>] = [
    new Heap((a, b) => b.batch - a.batch || a.seq - b.seq),
    // Newest gain first; an older gain's quick repeats wait at most until the newer one's are due.
    new Heap((a, b) => b.batch - a.batch || byDue(a, b)),
    new Heap(byDue),
  ];
  private seq = 0;
  private currentBatch = 0;
  private tokens: number;
  private refilledAt: number;
  private timer: { at: number; t: Timer } | undefined;
  private draining = false;
  readonly stats: GarpStats = { sent: 0, maxFirstDelayMs: 0 };

  constructor(
    private readonly clock: Clock,
    private readonly timing: GarpTiming,
    private readonly send: (key: K) => void,
    private readonly pacing: GarpPacing = DEFAULT_GARP_PACING,
  ) {
    this.tokens = pacing.burst;
    this.refilledAt = clock.now();
  }

  /**
   * Starts a new gain: first announcements of keys started from now on go before those of
   * earlier gains still waiting for tokens.
   */
  newBatch(): void {
    this.currentBatch++;
  }

  start(key: K): void {
    this.entries.delete(key);
    this.push({ key, index: 0, due: this.clock.now(), priority: 0, batch: this.currentBatch, seq: this.seq++ });
    this.drain();
  }

  cancel(key: K): void {
    if (!this.entries.delete(key)) return;
    if (this.entries.size === 0) this.clear();
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** Keys scheduled (announcing or refreshing). */
  get size(): number {
    return this.entries.size;
  }

  stop(): void {
    this.entries.clear();
    this.clear();
  }

  private clear(): void {
    for (const h of this.heaps) h.clear();
    this.timer?.t.cancel();
    this.timer = undefined;
  }

  private push(e: Entry<K>): void {
    this.entries.set(e.key, e);
    this.heaps[e.priority].push(e);
    // Cancelled entries stay in the heaps until they reach the top: rebuild if they pile up.
    const held = this.heaps[0].size + this.heaps[1].size + this.heaps[2].size;
    if (held > 2 * this.entries.size + 1024) {
      for (const h of this.heaps) h.clear();
      for (const x of this.entries.values()) this.heaps[x.priority].push(x);
    }
  }

  /** The live top of a heap (cancelled entries dropped), if it is due. */
  private top(p: Priority, now: number): Entry<K> | undefined {
    const h = this.heaps[p];
    let top = h.peek();
    while (top !== undefined && this.entries.get(top.key) !== top) {
      h.pop();
      top = h.peek();
    }
    return top !== undefined && top.due <= now ? top : undefined;
  }

  /**
   * The entry to send next, without removing it: first announcements, but the quick repeats of a
   * newer gain before the first announcements of an older one; then the rest.
   */
  private next(now: number): Entry<K> | undefined {
    const first = this.top(0, now);
    const quick = this.top(1, now);
    if (quick !== undefined && (first === undefined || quick.batch > first.batch)) return quick;
    return first ?? this.top(2, now);
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.pacing.burst, this.tokens + ((now - this.refilledAt) * this.pacing.perSecond) / 1000);
    this.refilledAt = now;
  }

  /** Sends what is due while tokens last, then sets the one timer for what comes next. */
  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      const now = this.clock.now();
      this.refill(now);
      for (let e = this.next(now); e !== undefined && this.tokens >= 1; e = this.next(now)) {
        this.heaps[e.priority].pop();
        this.tokens--;
        if (e.priority === 0) this.stats.maxFirstDelayMs = Math.max(this.stats.maxFirstDelayMs, now - e.due);
        this.stats.sent++;
        this.send(e.key);
        // Unless the send cancelled or restarted the key, its next step follows.
        if (this.entries.get(e.key) === e) {
          this.entries.delete(e.key);
          this.follow(e, now);
        }
      }
      this.arm(now);
    } finally {
      this.draining = false;
    }
  }

  /** Schedules the step after `e`, counted from when `e` actually left. */
  private follow(e: Entry<K>, sentAt: number): void {
    const { burstMs, refreshMs } = this.timing;
    let delay: number;
    if (e.index + 1 < burstMs.length) delay = burstMs[e.index + 1]! - burstMs[e.index]!;
    else if (refreshMs > 0) delay = refreshMs;
    else return;
    const index = Math.min(e.index + 1, burstMs.length);
    const priority: Priority = index < burstMs.length && burstMs[index]! < 1000 ? 1 : 2;
    this.push({ key: e.key, index, due: sentAt + delay, priority, batch: e.batch, seq: this.seq++ });
  }

  private arm(now: number): void {
    let at: number | undefined;
    if (this.next(now) !== undefined) {
      // Due but out of tokens: wait until enough have come back for a batch.
      at = now + Math.max(STARVED_WAIT_MS, ((1 - this.tokens) * 1000) / this.pacing.perSecond);
    } else {
      for (const h of this.heaps) {
        const top = h.peek();
        if (top !== undefined && (at === undefined || top.due < at)) at = top.due;
      }
    }
    if (at === undefined) {
      this.timer?.t.cancel();
      this.timer = undefined;
      return;
    }
    if (this.timer !== undefined && this.timer.at <= at) return;
    this.timer?.t.cancel();
    const t = this.clock.setTimeout(() => {
      if (this.timer?.t === t) this.timer = undefined;
      this.drain();
    }, at - now);
    this.timer = { at, t };
  }
}

function byDue<K>(a: Entry<K>, b: Entry<K>): number {
  return a.due - b.due || a.seq - b.seq;
}

/** A binary min-heap under `before` (negative: a comes first). */
class Heap<T> {
  private readonly items: T[] = [];

  constructor(private readonly before: (a: T, b: T) => number) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  clear(): void {
    this.items.length = 0;
  }

  push(x: T): void {
    const a = this.items;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.before(a[i]!, a[p]!) >= 0) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.before(a[l]!, a[m]!) < 0) m = l;
        if (r < a.length && this.before(a[r]!, a[m]!) < 0) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}
