import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ReplayWindow, type ReplayVerdict } from './replay-window.js';

/** Reference model: remembers everything, applies the same window rule. */
function model(size: number) {
  let inc = -1;
  let top = -1;
  let seen = new Set<number>();
  return (i: number, s: number): ReplayVerdict => {
    let v: ReplayVerdict;
    if (i > inc) v = 'ok';
    else if (i < inc) v = 'too-old';
    else if (s > top) v = 'ok';
    else if (top - s >= size) v = 'too-old';
    else v = seen.has(s) ? 'replay' : 'ok';
    if (v === 'ok') {
      if (i > inc) {
        inc = i;
        top = s;
        seen = new Set([s]);
      } else {
        top = Math.max(top, s);
        seen.add(s);
      }
    }
    return v;
  };
}

describe('anti-replay window (RFC 4303 §3.4.3)', () => {
  it('agrees with a reference model on any sequence of (incarnation, seq)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 300 })), { maxLength: 400 }),
        (ops) => {
          const w = new ReplayWindow(64);
          const ref = model(64);
          for (const [i, s] of ops) {
            const v = w.check(i, s);
            expect(v).toBe(ref(i, s));
            if (v === 'ok') w.accept(i, s);
          }
        },
      ),
    );
  });

  it('rejects duplicates, accepts reordering inside the window, rejects older', () => {
    const w = new ReplayWindow(64);
    for (const s of [1, 2, 5, 4]) {
      expect(w.check(7, s)).toBe('ok');
      w.accept(7, s);
    }
    expect(w.check(7, 5)).toBe('replay');
    expect(w.check(7, 3)).toBe('ok');
    w.accept(7, 200);
    expect(w.check(7, 5)).toBe('too-old');
    expect(w.check(6, 1000)).toBe('too-old');
    expect(w.check(8, 1)).toBe('ok');
  });

  it('does not move on check alone (a forged datagram cannot shift it)', () => {
    const w = new ReplayWindow(64);
    w.accept(1, 10);
    expect(w.check(1, 10_000)).toBe('ok');
    expect(w.check(1, 10)).toBe('replay');
  });
});
