import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIp, parseIp } from '../ip/address.js';
import { canonicalIp, toOwnedIp } from './owned-ips.js';

describe('toOwnedIp', () => {
  it('gives the parser\'s canonical form and bytes for any dotted-quad text, canonical or not', () => {
    const octet = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.integer({ min: 0, max: 99 }).map((n) => `0${n}`));
    fc.assert(
      fc.property(fc.tuple(octet, octet, octet, octet), (parts) => {
        const text = parts.join('.');
        const parsed = parseIp(text);
        const ip = toOwnedIp(text);
        if (parsed === undefined) expect(ip).toBeUndefined();
        else {
          expect(ip?.ip).toBe(formatIp(parsed));
          expect([...(ip?.bytes ?? [])].join('.')).toBe(formatIp(parsed));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('reads IPv6 and IPv4-mapped forms through the parser', () => {
    expect(toOwnedIp('2001:db8::1')?.family).toBe(6);
    expect(toOwnedIp('::ffff:192.0.2.1')?.ip).toBe(formatIp(parseIp('::ffff:192.0.2.1')!));
    expect(toOwnedIp('1.2.3')).toBeUndefined();
  });
});

describe('canonicalIp', () => {
  it('is the canonical text toOwnedIp gives, for canonical and other forms', () => {
    for (const t of ['192.0.2.1', '255.255.255.255', '0.0.0.0', '192.0.2.01', '192.0.2.256', '2001:DB8::1', '2001:db8:0:0::1', '::ffff:192.0.2.1', 'nope', '1.2.3']) {
      expect(canonicalIp(t)).toBe(toOwnedIp(t)?.ip ?? t);
    }
  });
});
