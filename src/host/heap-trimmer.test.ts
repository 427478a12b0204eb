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

  it('settles (V8 low-memory collections) once, before the first trim only', () => {
    const clock = new VirtualClock();
    const order: string[] = [];
    const t = new HeapTrimmer(
      clock,
      () => {
        order.push('trim');
        return false;
      },
      () => order.push('settle'),
    );
    t.start();
    clock.advance(FIRST_TRIM_MS + 3 * TRIM_EVERY_MS);
    expect(order).toEqual(['settle', 'trim', 'trim', 'trim', 'trim']);
    t.stop();
  });

  it("the addon's lowMemoryNotification shrinks a young generation that start-up grew", async () => {
    const v8 = await import('node:v8');
    const young = (): number => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;
    // Start-up's pattern: much allocated, much of it kept for a while (the semispaces grow).
    let keep: unknown[] = [];
    for (let i = 0; i < 40; i++) {
      keep.push(Array.from({ length: 20_000 }, (_, j) => ({ j })));
      if (keep.length > 8) keep = keep.slice(4);
    }
    keep = [];
    const before = young();
    loadNative().lowMemoryNotification!();
    expect(young()).toBeLessThanOrEqual(before);
    expect(young()).toBeLessThanOrEqual(2 * 1024 * 1024);
  });

  it("the addon's mallocTrim runs (true when glibc gave pages back)", () => {
    const big = Array.from({ length: 2000 }, () => Buffer.allocUnsafeSlow(4096));
    big.length = 0;
    expect(typeof loadNative().mallocTrim()).toBe('boolean');
  });
});
