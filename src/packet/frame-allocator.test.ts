import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocFrame } from './frame-allocator.js';

describe('frame allocator', () => {
  it('hands out zeroed, 8-byte aligned frames that never overlap, across slab boundaries', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 100 }), (sizes) => {
        const frames = sizes.map((size, i) => {
          const f = allocFrame(size);
          expect(f.length).toBe(size);
          expect(f.every((b) => b === 0)).toBe(true);
          expect(f.byteOffset % 8).toBe(0);
          f.fill(i & 0xff);
          return f;
        });
        frames.forEach((f, i) => expect(f.every((b) => b === (i & 0xff))).toBe(true));
      }),
      { numRuns: 200 },
    );
  });

  it('returns plain Uint8Arrays', () => {
    expect(Object.getPrototypeOf(allocFrame(60))).toBe(Uint8Array.prototype);
    expect(Object.getPrototypeOf(allocFrame(9000))).toBe(Uint8Array.prototype);
  });
});
