import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Elector, electAll, type ElectionItem } from './elect.js';
import { electOwner } from './hash-ranking.js';

const NODES = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7'];

const itemsArb = fc.uniqueArray(
  fc.record({
    key: fc.stringMatching(/^[a-z]{1,6}\/[a-z]{1,6}$/),
    ips: fc.array(fc.ipV4(), { minLength: 0, maxLength: 2 }),
    candidates: fc.subarray(NODES),
  }),
  { selector: (i) => i.key, maxLength: 30 },
);
const liveArb = fc.subarray(NODES).map((l) => new Set(l));

function reversedCandidates(items: readonly ElectionItem[]): ElectionItem[] {
  return items.map((i) => ({ ...i, candidates: [...i.candidates].reverse() }));
}

describe('election of a desired state', () => {
  it('is deterministic and independent of the candidate order', () => {
    fc.assert(
      fc.property(itemsArb, liveArb, (items, live) => {
        const a = electAll(items, live);
        expect(electAll(items, new Set(live))).toEqual(a);
        expect(electAll(reversedCandidates(items), live)).toEqual(a);
        expect(electAll([...items].reverse(), live)).toEqual(a);
      }),
    );
  });

  it('equals the reference electOwner for every item, also when every digest prefix ties', () => {
    const weightsArb = fc.option(fc.dictionary(fc.constantFrom(...NODES), fc.integer({ min: 0, max: 3 })), { nil: undefined });
    fc.assert(
      fc.property(itemsArb, liveArb, weightsArb, (items, live, w) => {
        const weights = w === undefined ? undefined : new Map(Object.entries(w));
        const weighted = items.map((i) => ({ ...i, weights }));
        const expected = new Map(weighted.map((i) => [i.key, i.ips[0] === undefined ? undefined : electOwner(i.ips[0], i.candidates, live, weights)]));
        expect(new Elector().elect(weighted, live)).toEqual(expected);
        expect(new Elector({ digestPrefix: () => 7 }).elect(weighted, live)).toEqual(expected);
        expect(new Elector({ digestPrefix: (n) => n.length }).elect(weighted, live)).toEqual(expected);
      }),
    );
  });

  it('gives every node the same answer, whatever its cache history', () => {
    fc.assert(
      fc.property(itemsArb, fc.array(liveArb, { minLength: 1, maxLength: 5 }), (items, lives) => {
        const warm = new Elector();
        for (const live of lives) {
          const cached = warm.elect(items, live);
          expect(cached).toEqual(electAll(items, live));
          expect(warm.elect(reversedCandidates(items), live)).toEqual(cached);
        }
      }),
    );
  });

  it('re-ranks correctly when candidate sets change between calls (digest reuse)', () => {
    fc.assert(
      fc.property(itemsArb, fc.array(fc.tuple(liveArb, fc.subarray(NODES)), { minLength: 1, maxLength: 5 }), (items, steps) => {
        const warm = new Elector();
        for (const [live, extra] of steps) {
          const changed = items.map((i) => ({ ...i, candidates: [...i.candidates, ...extra] }));
          expect(warm.elect(changed, live)).toEqual(electAll(changed, live));
        }
      }),
    );
  });

  it('elects only live candidates, and nobody without a live candidate or an IP', () => {
    fc.assert(
      fc.property(itemsArb, liveArb, (items, live) => {
        const result = electAll(items, live);
        for (const item of items) {
          const owner = result.get(item.key);
          const anyLive = item.ips.length > 0 && item.candidates.some((c) => live.has(c));
          if (anyLive) {
            expect(owner !== undefined && live.has(owner) && item.candidates.includes(owner)).toBe(true);
          } else {
            expect(owner).toBeUndefined();
          }
        }
      }),
    );
  });

  it('moves nothing when a node that owns nothing dies', () => {
    fc.assert(
      fc.property(itemsArb, liveArb, (items, live) => {
        const before = electAll(items, live);
        const owners = new Set(before.values());
        for (const node of live) {
          if (owners.has(node)) continue;
          const after = electAll(items, new Set([...live].filter((n) => n !== node)));
          expect(after).toEqual(before);
        }
      }),
    );
  });

  it("moves only the dead owner's items when an owner dies", () => {
    fc.assert(
      fc.property(itemsArb, liveArb, (items, live) => {
        const before = electAll(items, live);
        for (const node of live) {
          const after = electAll(items, new Set([...live].filter((n) => n !== node)));
          for (const [key, owner] of before) {
            if (owner !== node) expect(after.get(key)).toBe(owner);
            else expect(after.get(key)).not.toBe(node);
          }
        }
      }),
    );
  });

  it('moves items back to a node that comes back (the function has no memory)', () => {
    fc.assert(
      fc.property(itemsArb, liveArb, fc.constantFrom(...NODES), (items, live, node) => {
        const elector = new Elector();
        const before = elector.elect(items, live);
        elector.elect(items, new Set([...live].filter((n) => n !== node)));
        expect(elector.elect(items, live)).toEqual(before);
      }),
    );
  });

  it('re-ranks when the candidates or weights of an IP change', () => {
    const elector = new Elector();
    const live = new Set(['node-a', 'node-b', 'node-c']);
    const item: ElectionItem = { key: 's', ips: ['10.0.0.1'], candidates: ['node-a', 'node-b', 'node-c'] };
    expect(elector.elect([item], live).get('s')).toBe('node-b');
    expect(elector.elect([{ ...item, candidates: ['node-a', 'node-c'] }], live).get('s')).toBe('node-a');
    expect(elector.elect([{ ...item, weights: new Map([['node-c', 1]]) }], live).get('s')).toBe('node-c');
    expect(elector.elect([item], live).get('s')).toBe('node-b');
  });

  it('forgets IPs that left the desired state', () => {
    const elector = new Elector();
    const live = new Set(['a']);
    elector.elect(
      [
        { key: 'x', ips: ['10.0.0.1'], candidates: ['a'] },
        { key: 'y', ips: ['10.0.0.2'], candidates: ['a'] },
      ],
      live,
    );
    expect(elector.cachedIps()).toBe(2);
    elector.elect([{ key: 'x', ips: ['10.0.0.1'], candidates: ['a'] }], live);
    expect(elector.cachedIps()).toBe(1);
  });
});
