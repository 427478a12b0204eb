import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { VirtualClock } from './virtual-clock.js';

describe('VirtualClock', () => {
  it('runs timers in (time, creation) order, skips cancelled ones, and handles timers set by timers', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.boolean()), { maxLength: 200 }), (specs) => {
        const clock = new VirtualClock(0);
        const ran: number[] = [];
        const expected: { at: number; i: number }[] = [];
        specs.forEach(([ms, cancel], i) => {
          const t = clock.setTimeout(() => ran.push(i), ms);
          if (cancel) t.cancel();
          else expected.push({ at: ms, i });
        });
        let nested = -1;
        clock.setTimeout(() => clock.setTimeout(() => (nested = clock.now()), 0), 25);
        clock.advance(100);
        expected.sort((a, b) => a.at - b.at || a.i - b.i);
        expect(ran).toEqual(expected.map((e) => e.i));
        expect(nested).toBe(25);
        expect(clock.pending()).toBe(0);
        expect(clock.now()).toBe(100);
      }),
    );
  });
});
