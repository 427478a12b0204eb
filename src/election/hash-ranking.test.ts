import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { electOwner, nodeDigest, rankNodes } from './hash-ranking.js';

const nodeName = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/);
const ipv4 = fc.ipV4();

describe('hash ranking (MetalLB compatible)', () => {
  it('matches the reference test vector', () => {
    const nodes = ['node-a', 'node-b', 'node-c'];
    expect(rankNodes('10.0.0.1', nodes)).toEqual(['node-b', 'node-a', 'node-c']);
    expect(rankNodes('10.0.0.2', nodes)).toEqual(['node-b', 'node-c', 'node-a']);
  });

  it('sorts by the bytewise sha256 of "node#ip"', () => {
    fc.assert(
      fc.property(ipv4, fc.uniqueArray(nodeName, { maxLength: 8 }), (ip, nodes) => {
        const ranked = rankNodes(ip, nodes);
        for (let i = 1; i < ranked.length; i++) {
          const a = Buffer.from(nodeDigest(ranked[i - 1]!, ip), 'latin1');
          const b = Buffer.from(nodeDigest(ranked[i]!, ip), 'latin1');
          expect(Buffer.compare(a, b)).toBeLessThan(0);
        }
      }),
    );
  });

  it('does not depend on the order of the candidates and keeps duplicates once', () => {
    fc.assert(
      fc.property(ipv4, fc.uniqueArray(nodeName, { minLength: 1, maxLength: 10 }), fc.nat(), (ip, nodes, seed) => {
        const shuffled = [...nodes].sort((a, b) => ((a.length * 31 + seed) % 7) - ((b.length * 31 + seed) % 7));
        expect(rankNodes(ip, [...shuffled, nodes[0]!])).toEqual(rankNodes(ip, nodes));
      }),
    );
  });

  it('ranks higher preferred weights first and breaks ties with the hash', () => {
    const nodes = ['node-a', 'node-b', 'node-c'];
    expect(rankNodes('10.0.0.1', nodes, new Map([['node-c', 10]]))).toEqual(['node-c', 'node-b', 'node-a']);
    expect(rankNodes('10.0.0.1', nodes, new Map([['node-a', 5], ['node-c', 5]]))).toEqual([
      'node-a',
      'node-c',
      'node-b',
    ]);
  });

  it('elects the first live candidate, or nobody', () => {
    const nodes = ['node-a', 'node-b', 'node-c'];
    expect(electOwner('10.0.0.1', nodes, new Set(nodes))).toBe('node-b');
    expect(electOwner('10.0.0.1', nodes, new Set(['node-a', 'node-c']))).toBe('node-a');
    expect(electOwner('10.0.0.1', nodes, new Set(['node-x']))).toBeUndefined();
  });
});
