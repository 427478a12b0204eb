import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseMac } from '../packet/mac.js';
import {
  deriveVirtualMac,
  resolveVirtualMac,
  virtualMacCollisions,
  virtualMacProblem,
  type VirtualMacUse,
} from './virtual-mac.js';

describe('virtual MAC derivation', () => {
  it('is 02 + the first 5 bytes of sha256("l2vip-vmac\\0" + name) (the documented derivation)', () => {
    const h = createHash('sha256').update('l2vip-vmac\0web').digest('hex');
    expect(deriveVirtualMac('web')).toBe(`02:${h.slice(0, 10).match(/../g)!.join(':')}`);
    // The example in docs/virtual-mac.md.
    expect(deriveVirtualMac('web')).toBe('02:00:67:7c:5a:c0');
  });

  it('is a stable, locally administered unicast MAC for any name', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (name) => {
        const mac = deriveVirtualMac(name);
        expect(deriveVirtualMac(name)).toBe(mac);
        expect(virtualMacProblem(mac)).toBeUndefined();
        expect(parseMac(mac)![0]).toBe(0x02);
      }),
    );
  });

  it('differs between names (no collision among 2000 random names)', () => {
    const names = fc.sample(fc.uuid(), 2000);
    expect(new Set(names.map(deriveVirtualMac)).size).toBe(new Set(names).size);
  });
});

describe('explicit virtual MACs', () => {
  it('accepts locally administered unicast MACs in any case and separator, canonicalised', () => {
    expect(virtualMacProblem('02:AB:cd:00:00:01')).toBeUndefined();
    expect(resolveVirtualMac('06-AB-CD-00-00-01', 'x')).toBe('06:ab:cd:00:00:01');
  });

  it('refuses multicast, universally administered and malformed MACs', () => {
    expect(virtualMacProblem('03:00:00:00:00:01')).toMatch(/multicast/);
    expect(virtualMacProblem('00:11:22:33:44:55')).toMatch(/locally administered/);
    expect(virtualMacProblem('02:00:00:00:01')).toMatch(/not a MAC/);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (b) => {
        const text = [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
        const ok = (b[0]! & 0x01) === 0 && (b[0]! & 0x02) !== 0;
        expect(virtualMacProblem(text) === undefined).toBe(ok);
      }),
    );
  });

  it('false or nothing means no virtual MAC; true derives it', () => {
    expect(resolveVirtualMac(false, 'web')).toBeUndefined();
    expect(resolveVirtualMac(undefined, 'web')).toBeUndefined();
    expect(resolveVirtualMac(true, 'web')).toBe(deriveVirtualMac('web'));
  });
});

describe('virtual MAC collisions', () => {
  const use = (service: string, mac: string, interfaces?: string[]): VirtualMacUse => ({ service, mac, interfaces });

  it('reports a second service with the same MAC on a shared interface, and keeps the first', () => {
    expect(virtualMacCollisions([use('a', '02:00:00:00:00:01', ['eth0']), use('b', '02:00:00:00:00:01', ['eth1', 'eth0'])])).toEqual([
      { mac: '02:00:00:00:00:01', kept: 'a', refused: 'b', iface: 'eth0' },
    ]);
  });

  it('allows the same MAC on disjoint named interfaces, never on default ones', () => {
    expect(virtualMacCollisions([use('a', '02:00:00:00:00:01', ['eth0']), use('b', '02:00:00:00:00:01', ['eth1'])])).toEqual([]);
    expect(virtualMacCollisions([use('a', '02:00:00:00:00:01'), use('b', '02:00:00:00:00:01', ['eth1'])])).toHaveLength(1);
  });

  it('never reports distinct MACs, and after dropping the refused ones no two kept services collide', () => {
    const arb = fc.array(
      fc.record({
        service: fc.uuid(),
        mac: fc.constantFrom('02:00:00:00:00:01', '02:00:00:00:00:02', '02:00:00:00:00:03'),
        interfaces: fc.option(fc.uniqueArray(fc.constantFrom('eth0', 'eth1', 'eth2'), { minLength: 1 }), { nil: undefined }),
      }),
      { maxLength: 12 },
    );
    fc.assert(
      fc.property(arb, (uses) => {
        const c = virtualMacCollisions(uses);
        for (const x of c) expect(uses.find((u) => u.service === x.kept)!.mac).toBe(x.mac);
        const refused = new Set(c.map((x) => x.refused));
        const kept = uses.filter((u) => !refused.has(u.service));
        expect(virtualMacCollisions(kept)).toEqual([]);
      }),
    );
  });
});
