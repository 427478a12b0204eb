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
 * Runs the schedule of each key (an IP, or an IP on one interface) on the injected clock.
 * `start` on a key that is already scheduled restarts its burst (a re-gain, or the link came
 * back); `cancel` stops it at once.
 */
export class GarpScheduler<K> {
  private readonly timers = new Map<K, Timer>();

  constructor(
    private readonly clock: Clock,
    private readonly timing: GarpTiming,
    private readonly send: (key: K) => void,
  ) {}

  start(key: K): void {
    this.cancel(key);
    this.step(key, 0);
  }

  cancel(key: K): void {
    const t = this.timers.get(key);
    if (t !== undefined) {
      t.cancel();
      this.timers.delete(key);
    }
  }

  has(key: K): boolean {
    return this.timers.has(key);
  }

  stop(): void {
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }

  private step(key: K, index: number): void {
    this.send(key);
    const { burstMs, refreshMs } = this.timing;
    let delay: number;
    if (index + 1 < burstMs.length) delay = burstMs[index + 1]! - burstMs[index]!;
    else if (refreshMs > 0) delay = refreshMs;
    else {
      this.timers.delete(key);
      return;
    }
    const next = Math.min(index + 1, burstMs.length);
    this.timers.set(
      key,
      this.clock.setTimeout(() => this.step(key, next), delay),
    );
  }
}
