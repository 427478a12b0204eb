import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isBuggyIp } from '../ip/address.js';
import { cidrRange, type Cidr } from '../ip/cidr.js';
import { BigIntMinHeap, CidrSpace, usableAddresses } from './free-space.js';

describe('BigIntMinHeap', () => {
  it('pops in ascending order', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 1n << 70n })), (values) => {
        const h = new BigIntMinHeap();
        for (const v of values) h.push(v);
        const out: bigint[] = [];
        for (let v = h.pop(); v !== undefined; v = h.pop()) out.push(v);
        expect(out).toEqual([...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
        expect(h.size).toBe(0);
      }),
    );
  });
});

describe('CidrSpace', () => {
  it('always returns the lowest address not in use, under any use/free sequence', () => {
    const cidr: Cidr = { family: 4, network: 0x0a0000f8n, prefix: 28 };
    fc.assert(
      fc.property(fc.boolean(), fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 15 }))), (avoid, ops) => {
        const space = new CidrSpace(cidr, avoid);
        const inUse = new Map<bigint, true>();
        for (const [take, offset] of ops) {
          const v = cidr.network + BigInt(offset);
          if (take) inUse.set(v, true);
          else if (inUse.delete(v)) space.released(v);
          const r = cidrRange(cidr);
          let want: bigint | undefined;
          for (let x = r.start; x <= r.end; x++) {
            if (!inUse.has(x) && !(avoid && isBuggyIp({ family: 4, value: x }))) {
              want = x;
              break;
            }
          }
          expect(space.lowestFree(inUse)).toBe(want);
        }
      }),
    );
  });
});

describe('usableAddresses', () => {
  it('counts exactly the addresses not ending in .0 or .255 with avoidBuggyIPs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 20, max: 32 }), (v, prefix) => {
        const network = BigInt(v) & ~((1n << BigInt(32 - prefix)) - 1n);
        const cidr: Cidr = { family: 4, network, prefix };
        const r = cidrRange(cidr);
        let n = 0n;
        for (let x = r.start; x <= r.end; x++) if (!isBuggyIp({ family: 4, value: x })) n++;
        expect(usableAddresses(cidr, true)).toBe(n);
        expect(usableAddresses(cidr, false)).toBe(r.end - r.start + 1n);
      }),
      { numRuns: 200 },
    );
  });

  it('is exact for huge IPv6 prefixes and ignores avoidBuggyIPs there', () => {
    expect(usableAddresses({ family: 6, network: 0n, prefix: 64 }, true)).toBe(1n << 64n);
    expect(usableAddresses({ family: 6, network: 0n, prefix: 0 }, false)).toBe(1n << 128n);
  });
});
