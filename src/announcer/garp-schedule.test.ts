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
