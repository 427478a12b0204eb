import type { Clock, Timer } from './clock.js';

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A deterministic clock for tests and simulations: time moves only when `advance` is called,
 * and due timers run in (time, creation) order.
 */
export class VirtualClock implements Clock {
  private t: number;
  private seq = 0;
  private queue: Pending[] = [];

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const p: Pending = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.insert(p);
    return {
      cancel: () => {
        p.cancelled = true;
      },
    };
  }

  /** Runs every timer due within the next `ms` milliseconds, then sets the time to now + ms. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.queue[0];
      if (next === undefined || next.at > end) break;
      this.queue.shift();
      if (next.cancelled) continue;
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }

  /** Number of live (not cancelled) pending timers. */
  pending(): number {
    return this.queue.filter((p) => !p.cancelled).length;
  }

  private insert(p: Pending): void {
    // Binary search for the first entry that runs after p.
    let lo = 0;
    let hi = this.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const q = this.queue[mid]!;
      if (q.at < p.at || (q.at === p.at && q.seq < p.seq)) lo = mid + 1;
      else hi = mid;
    }
    this.queue.splice(lo, 0, p);
  }
}
