import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../clock/virtual-clock.js';
import { loadNative } from '../netdev/native.js';
import { FIRST_TRIM_MS, HeapTrimmer, TRIM_EVERY_MS } from './heap-trimmer.js';

describe('HeapTrimmer', () => {
  it('trims once after start-up, then every period, and never after stop', () => {
    const clock = new VirtualClock();
    let calls = 0;
    const t = new HeapTrimmer(clock, () => {
      calls++;
      return calls === 1;
    });
    t.start();
    t.start(); // idempotent
    clock.advance(FIRST_TRIM_MS - 1);
    expect(calls).toBe(0);
    clock.advance(1);
    expect(calls).toBe(1);
    clock.advance(2 * TRIM_EVERY_MS);
    expect(calls).toBe(3);
    expect(t.stats).toEqual({ calls: 3, released: 1 });
    t.stop();
    clock.advance(10 * TRIM_EVERY_MS);
    expect(calls).toBe(3);
  });

  it("the addon's mallocTrim runs (true when glibc gave pages back)", () => {
    const big = Array.from({ length: 2000 }, () => Buffer.allocUnsafeSlow(4096));
    big.length = 0;
    expect(typeof loadNative().mallocTrim()).toBe('boolean');
  });
});
