import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatFieldPath, parseFieldPath } from './field-path.js';

describe('field paths', () => {
  it('formats keys, indices and odd keys as users read them', () => {
    expect(formatFieldPath(['spec', 'addresses', '2'])).toBe('spec.addresses[2]');
    expect(formatFieldPath(['spec', 'nodeSelectors', '0', 'matchLabels', 'kubernetes.io/hostname'])).toBe(
      'spec.nodeSelectors[0].matchLabels["kubernetes.io/hostname"]',
    );
  });

  it('parses back what it formats', () => {
    expect(parseFieldPath('spec.nodeSelectors[0].matchLabels["kubernetes.io/hostname"]')).toEqual([
      'spec',
      'nodeSelectors',
      '0',
      'matchLabels',
      'kubernetes.io/hostname',
    ]);
    expect(parseFieldPath('')).toEqual([]);
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.nat().map(String), fc.string({ minLength: 1 }).filter((s) => !/^\d+$/.test(s)))), (segments) => {
        expect(parseFieldPath(formatFieldPath(segments))).toEqual(segments);
      }),
    );
  });
});
