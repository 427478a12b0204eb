import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../clock/virtual-clock.js';
import { DEFAULT_GARP_TIMING, GarpScheduler, checkGarpTiming } from './garp-schedule.js';

function record(timing = DEFAULT_GARP_TIMING) {
  const clock = new VirtualClock();
  const sent: [string, number][] = [];
  const s = new GarpScheduler<string>(clock, timing, (k) => sent.push([k, clock.now()]));
  return { clock, sent, s };
}

describe('GARP schedule', () => {
  it('sends at once, repeats within 100 ms, then beyond the 1 s locktime, then refreshes', () => {
    const { clock, sent, s } = record();
    s.start('10.0.0.1');
    expect(sent).toEqual([['10.0.0.1', 0]]);
    clock.advance(100);
    expect(sent.map(([, t]) => t)).toEqual([0, 50]);
    clock.advance(70_000);
    const times = sent.map(([, t]) => t);
    expect(times.slice(0, 5)).toEqual([0, 50, 1100, 2200, 4400]);
    // Every repeat after the second lands more than 1 s after the previous one (Linux locktime).
    for (let i = 2; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThan(1000);
    expect(times.slice(5)).toEqual([34_400, 64_400]);
  });

  it('never lets a client cache go stale: the gap between frames is at most the refresh period', () => {
    const { clock, sent, s } = record({ burstMs: [0, 50], refreshMs: 60_000 });
    s.start('a');
    clock.advance(600_000);
    const times = sent.map(([, t]) => t);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeLessThanOrEqual(60_000);
    expect(times.length).toBe(11);
  });

  it('stops at once when the IP is lost', () => {
    const { clock, sent, s } = record();
    s.start('a');
    clock.advance(10);
    s.cancel('a');
    clock.advance(100_000);
    expect(sent).toHaveLength(1);
    expect(clock.pending()).toBe(0);
  });

  it('restarts the burst on a re-gain', () => {
    const { clock, sent, s } = record();
    s.start('a');
    clock.advance(2000);
    s.start('a');
    clock.advance(60);
    expect(sent.map(([, t]) => t)).toEqual([0, 50, 1100, 2000, 2050]);
  });

  it('with refresh off, ends after the burst and leaves no timer', () => {
    const { clock, sent, s } = record({ burstMs: [0, 50, 1100], refreshMs: 0 });
    s.start('a');
    clock.advance(100_000);
    expect(sent).toHaveLength(3);
    expect(s.has('a')).toBe(false);
    expect(clock.pending()).toBe(0);
  });

  it('keeps keys independent', () => {
    const { clock, sent, s } = record();
    s.start('a');
    clock.advance(500);
    s.start('b');
    s.cancel('a');
    clock.advance(600);
    expect(sent).toEqual([
      ['a', 0],
      ['a', 50],
      ['b', 500],
      ['b', 550],
    ]);
  });

  it('rejects timings that would break the guarantees', () => {
    expect(checkGarpTiming(DEFAULT_GARP_TIMING)).toBeUndefined();
    expect(checkGarpTiming({ burstMs: [10], refreshMs: 0 })).toMatch(/start at 0/);
    expect(checkGarpTiming({ burstMs: [0, 50, 50], refreshMs: 0 })).toMatch(/ascending/);
    expect(checkGarpTiming({ burstMs: [0], refreshMs: 10 })).toMatch(/1000/);
  });
});

describe('GARP pacing', () => {
  const pacing = { perSecond: 5_000, burst: 200 };

  function paced(timing = DEFAULT_GARP_TIMING) {
    const clock = new VirtualClock();
    const sent: [string, number][] = [];
    const s = new GarpScheduler<string>(clock, timing, (k) => sent.push([k, clock.now()]), pacing);
    return { clock, sent, s };
  }

  /** The most announcements sent in any window of `ms`. */
  function busiest(times: readonly number[], ms: number): number {
    let best = 0;
    let lo = 0;
    for (let hi = 0; hi < times.length; hi++) {
      while (times[hi]! - times[lo]! >= ms) lo++;
      best = Math.max(best, hi - lo + 1);
    }
    return best;
  }

  it('spreads the first announcements of 10 000 gained IPs at the documented rate: at most the burst at once, all within 2 s, in the order gained', () => {
    const { clock, sent, s } = paced();
    for (let i = 0; i < 10_000; i++) s.start(`ip${i}`);
    expect(sent).toHaveLength(200);
    clock.advance(2_000);
    const firsts = new Map<string, number>();
    for (const [k, t] of sent) if (!firsts.has(k)) firsts.set(k, t);
    expect(firsts.size).toBe(10_000);
    expect([...firsts.keys()].slice(0, 3)).toEqual(['ip0', 'ip1', 'ip2']);
    expect([...firsts.keys()].at(-1)).toBe('ip9999');
    const times = sent.map(([, t]) => t);
    expect(busiest(times, 1)).toBeLessThanOrEqual(200);
    // Never above rate x window + burst, in any window.
    expect(busiest(times, 100)).toBeLessThanOrEqual(200 + 500);
    expect(busiest(times, 1000)).toBeLessThanOrEqual(200 + 5_000);
    expect(s.stats.maxFirstDelayMs).toBeLessThanOrEqual(2_000);
  });

  it('wakes up in batches, not once per announcement', () => {
    const { clock, s } = paced();
    for (let i = 0; i < 10_000; i++) s.start(`ip${i}`);
    let wakeups = 0;
    for (let t = 0; t < 2_000; t++) {
      const before = s.stats.sent;
      clock.advance(1);
      if (s.stats.sent > before) wakeups++;
    }
    expect(wakeups).toBeLessThanOrEqual(2_000 / 10 + 1);
  });

  it('announces a failover gained during a start-up burst next, not behind the burst', () => {
    const { clock, sent, s } = paced();
    for (let i = 0; i < 10_000; i++) s.start(`bulk${i}`);
    clock.advance(300);
    s.newBatch();
    s.start('takeover');
    clock.advance(20);
    const at = sent.find(([k]) => k === 'takeover')?.[1];
    expect(at).toBeDefined();
    expect(at! - 300).toBeLessThanOrEqual(10);
    // ...and its quick repeat comes before the rest of the start-up's first announcements too.
    clock.advance(100);
    const repeat = sent.filter(([k]) => k === 'takeover')[1]?.[1];
    expect(repeat).toBeDefined();
    expect(repeat! - at!).toBeLessThanOrEqual(50 + 10);
  });

  it('sends first announcements of new gains before refreshes that are due', () => {
    const { clock, sent, s } = paced({ burstMs: [0], refreshMs: 1_000 });
    for (let i = 0; i < 300; i++) s.start(`old${i}`);
    clock.advance(999);
    const mark = sent.length;
    for (let i = 0; i < 300; i++) s.start(`new${i}`);
    clock.advance(200);
    const order = sent.slice(mark).map(([k]) => k);
    const lastNew = order.lastIndexOf('new299');
    const firstRefresh = order.findIndex((k) => k.startsWith('old'));
    expect(lastNew).toBeGreaterThanOrEqual(0);
    expect(firstRefresh).toBeGreaterThan(lastNew);
  });

  it('keeps the repeats of a late announcement outside the 1 s locktime', () => {
    const { clock, sent, s } = paced();
    for (let i = 0; i < 20_000; i++) s.start(`ip${i}`);
    clock.advance(30_000);
    const times = sent.filter(([k]) => k === 'ip19999').map(([, t]) => t);
    expect(times.length).toBeGreaterThanOrEqual(5);
    for (let i = 2; i < 5; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThan(1_000);
  });

  it('never sends an announcement of a key cancelled while it waited for a token', () => {
    const { clock, sent, s } = paced();
    for (let i = 0; i < 1_000; i++) s.start(`ip${i}`);
    for (let i = 500; i < 1_000; i++) s.cancel(`ip${i}`);
    clock.advance(10_000);
    expect(sent.some(([k]) => Number(k.slice(2)) >= 500)).toBe(false);
    s.stop();
    expect(clock.pending()).toBe(0);
  });
});
