import { containsCidr, overlapCidr } from 'cidr-tools';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIp, type IpFamily } from './address.js';
import {
  cidrContains,
  cidrRange,
  cidrSize,
  formatCidr,
  parseCidr,
  parseIpRange,
  rangesOverlap,
  rangeSize,
  summarizeRange,
  type Cidr,
  type IpRange,
} from './cidr.js';

function cidrArb(family: IpFamily, minPrefix = 0): fc.Arbitrary<Cidr> {
  const bits = family === 4 ? 32 : 128;
  return fc
    .tuple(fc.bigInt({ min: 0n, max: (1n << BigInt(bits)) - 1n }), fc.integer({ min: minPrefix, max: bits }))
    .map(([v, prefix]) => ({ family, prefix, network: v & ~((1n << BigInt(bits - prefix)) - 1n) }));
}

function rangeArb(family: IpFamily, maxSpan: bigint): fc.Arbitrary<IpRange> {
  const bits = family === 4 ? 32 : 128;
  const max = (1n << BigInt(bits)) - 1n;
  return fc
    .tuple(fc.bigInt({ min: 0n, max }), fc.bigInt({ min: 0n, max: maxSpan }))
    .map(([start, span]) => ({ family, start, end: start + span > max ? max : start + span }));
}

const anyCidr = fc.oneof(cidrArb(4), cidrArb(6));
const anyRange = fc.oneof(rangeArb(4, 1n << 20n), rangeArb(6, 1n << 80n), rangeArb(4, 1n << 32n));

describe('parseCidr', () => {
  it.each([
    ['10.0.0.0/8', '10.0.0.0/8', false],
    ['192.168.1.77/24', '192.168.1.0/24', true],
    ['10.0.0.1/32', '10.0.0.1/32', false],
    ['0.0.0.0/0', '0.0.0.0/0', false],
    ['10.0.0.0/08', '10.0.0.0/8', false],
    ['FC00::/7', 'fc00::/7', false],
    ['fc00::1:2/64', 'fc00::/64', true],
    ['2001:db8::/128', '2001:db8::/128', false],
  ])('reads %s as %s', (text, want, hostBits) => {
    const r = parseCidr(text);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(formatCidr(r.cidr)).toBe(want);
      expect(r.hadHostBits).toBe(hostBits);
    }
  });

  it.each([
    ['10.0.0.1', /no prefix length/],
    ['fc00::1', /no prefix length/],
    ['100.200.300.400/24', /not an IP address/],
    ['1.2.3.0/33', /too long for IPv4/],
    ['fc00::/129', /too long for IPv6/],
    [' 10.0.0.0/8', /spaces/],
    ['10.0.0.0/', /not a number/],
    ['10.0.0.0/+8', /not a number/],
    ['10.0.0.0/8/8', /not a number/],
    ['::ffff:10.0.0.0/104', /IPv4-mapped/],
    ['garbage', /not a CIDR/],
  ])('refuses %j', (text, why) => {
    const r = parseCidr(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(why);
  });

  it('round-trips formatCidr for every prefix', () => {
    fc.assert(
      fc.property(anyCidr, (c) => {
        const r = parseCidr(formatCidr(c));
        expect(r.ok && r.cidr).toEqual(c);
      }),
    );
  });
});

describe('parseIpRange', () => {
  it('accepts spaces around the addresses, as MetalLB trims them', () => {
    const r = parseIpRange(' 10.0.0.1 - 10.0.0.9 ');
    expect(r).toEqual({ ok: true, range: { family: 4, start: 0x0a000001n, end: 0x0a000009n } });
  });

  it('accepts a one-address range', () => {
    expect(parseIpRange('fc00::5-fc00::5').ok).toBe(true);
  });

  it.each([
    ['10.0.0.9-10.0.0.1', /start 10\.0\.0\.9 is after the end 10\.0\.0\.1/],
    ['10.0.0.1-fc00::1', /IPv4 but end fc00::1 is IPv6/],
    ['10.0.0.0/24-10.0.1.0/24', /without a prefix length/],
    ['10.0.0.1-', /end "" is not an IP address/],
    ['x-10.0.0.1', /start "x" is not an IP address/],
  ])('refuses %j', (text, why) => {
    const r = parseIpRange(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(why);
  });
});

describe('summarizeRange', () => {
  it('covers the range exactly, ascending, with aligned prefixes', () => {
    fc.assert(
      fc.property(anyRange, (range) => {
        const cidrs = summarizeRange(range);
        let next = range.start;
        for (const c of cidrs) {
          const r = cidrRange(c);
          expect(r.start).toBe(next);
          expect(c.network % cidrSize(c)).toBe(0n);
          next = r.end + 1n;
        }
        expect(next - 1n).toBe(range.end);
        expect(cidrs.reduce((n, c) => n + cidrSize(c), 0n)).toBe(rangeSize(range));
        expect(cidrs.length).toBeLessThanOrEqual(2 * (range.family === 4 ? 32 : 128));
      }),
    );
  });

  it('is minimal: no two neighbours could merge into one prefix', () => {
    fc.assert(
      fc.property(anyRange, (range) => {
        const cidrs = summarizeRange(range);
        for (let i = 1; i < cidrs.length; i++) {
          const a = cidrs[i - 1] as Cidr;
          const b = cidrs[i] as Cidr;
          const mergeable = a.prefix === b.prefix && a.prefix > 0 && a.network % (cidrSize(a) * 2n) === 0n;
          expect(mergeable).toBe(false);
        }
      }),
    );
  });

  it('gives the MetalLB example 10.0.0.250-10.0.1.5 as four prefixes', () => {
    const r = parseIpRange('10.0.0.250-10.0.1.5');
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(summarizeRange(r.range).map(formatCidr)).toEqual([
        '10.0.0.250/31',
        '10.0.0.252/30',
        '10.0.1.0/30',
        '10.0.1.4/31',
      ]);
    }
  });
});

describe('overlap and containment', () => {
  it('rangesOverlap agrees with cidr-tools on CIDRs', () => {
    const pair = fc.oneof(fc.tuple(cidrArb(4, 8), cidrArb(4, 8)), fc.tuple(cidrArb(6, 100), cidrArb(6, 100)));
    fc.assert(
      fc.property(pair, ([a, b]) => {
        expect(rangesOverlap(cidrRange(a), cidrRange(b))).toBe(overlapCidr(formatCidr(a), formatCidr(b)));
      }),
    );
  });

  it('overlapping CIDRs of one family always have one inside the other', () => {
    fc.assert(
      fc.property(fc.tuple(cidrArb(4, 20), cidrArb(4, 20)), ([a, b]) => {
        if (!rangesOverlap(cidrRange(a), cidrRange(b))) return;
        const aInB = containsCidr(formatCidr(b), formatCidr(a));
        const bInA = containsCidr(formatCidr(a), formatCidr(b));
        expect(aInB || bInA).toBe(true);
      }),
    );
  });

  it('never overlaps across families', () => {
    fc.assert(
      fc.property(cidrArb(4), cidrArb(6), (a, b) => {
        expect(rangesOverlap(cidrRange(a), cidrRange(b))).toBe(false);
      }),
    );
  });

  it('cidrContains matches the range bounds', () => {
    fc.assert(
      fc.property(cidrArb(4), fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), (c, v) => {
        const r = cidrRange(c);
        expect(cidrContains(c, { family: 4, value: v })).toBe(v >= r.start && v <= r.end);
        expect(containsCidr(formatCidr(c), formatIp({ family: 4, value: v }))).toBe(v >= r.start && v <= r.end);
      }),
    );
  });
});
