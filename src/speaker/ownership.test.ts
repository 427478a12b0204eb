import { describe, expect, it } from 'vitest';
import { Elector } from '../election/elect.js';
import { rankNodes } from '../election/hash-ranking.js';
import { computeOwnership, electionItems, type NodeStatus, type ServiceSpec } from './ownership.js';

const alive = (links?: NodeStatus['links']): NodeStatus => ({ alive: true, draining: false, links });

describe('election items', () => {
  it('leave weights out when the service has none (plain hash ranking)', () => {
    const [item] = electionItems([{ name: 'a/web', addresses: ['10.0.0.1'], nodes: ['node-a', 'node-b'] }], new Map());
    expect(item).toEqual({ key: 'a/web', ips: ['10.0.0.1'], candidates: ['node-a', 'node-b'] });
    expect(item && 'weights' in item).toBe(false);
  });

  it('pass preferred-node weights through to the election', () => {
    const weights = new Map([['node-c', 50]]);
    const [item] = electionItems([{ name: 'a/web', addresses: ['10.0.0.1'], nodes: ['node-a', 'node-c'], weights }], new Map());
    expect(item?.weights).toBe(weights);
  });

  it('judge each candidate by its own interfaces when the service lists them per node', () => {
    const nodes = new Map<string, NodeStatus>([
      ['node-a', alive({ anyUp: true, down: ['eth1'] })],
      ['node-b', alive({ anyUp: true, down: ['eth1'] })],
      ['node-c', alive({ anyUp: false, down: ['eth0'] })],
    ]);
    const svc: ServiceSpec = {
      name: 'a/web',
      addresses: ['10.0.0.1'],
      nodes: ['node-a', 'node-b', 'node-c'],
      interfaces: ['eth1'],
      // node-b announces on eth2 (up), node-c on its defaults (none up).
      nodeInterfaces: new Map([
        ['node-b', ['eth2']],
        ['node-c', undefined],
      ]),
    };
    expect(electionItems([svc], nodes)[0]?.candidates).toEqual(['node-b']);
    // Without the per-node list every node is judged by `interfaces`.
    expect(electionItems([{ ...svc, nodeInterfaces: undefined }], nodes)[0]?.candidates).toEqual(['node-c']);
  });
});

describe('ownership with preferred-node weights', () => {
  it('elect the live node with the highest weight, the hash only breaking ties', () => {
    const ip = '10.0.0.1';
    const hashOrder = rankNodes(ip, ['node-a', 'node-b', 'node-c']);
    expect(hashOrder).toEqual(['node-b', 'node-a', 'node-c']);
    const nodes = new Map(['node-a', 'node-b', 'node-c'].map((n) => [n, alive()] as const));
    const svc: ServiceSpec = { name: 'a/web', addresses: [ip], nodes: ['node-a', 'node-b', 'node-c'], weights: new Map([['node-c', 10]]) };
    const own = computeOwnership('node-c', [svc], nodes, new Elector(), () => ['eth0']);
    expect(own.owners.get('a/web')).toBe('node-c');
    expect([...own.owned.keys()]).toEqual([ip]);
    const down = new Map(nodes);
    down.set('node-c', { alive: false, draining: false });
    expect(computeOwnership('node-b', [svc], down, new Elector(), () => ['eth0']).owners.get('a/web')).toBe('node-b');
  });
});

describe('electionItems', () => {
  it('shares one candidate array between services with equal candidates, and filters those that cannot carry', () => {
    const svc = (name: string, nodes: string[], interfaces?: string[]): ServiceSpec => ({ name, addresses: [`192.0.2.${name.length}`], nodes, interfaces });
    const nodes = new Map([['n2', { alive: true, draining: false, links: { anyUp: true, down: ['eth1'] } }]]);
    const items = electionItems([svc('a', ['n1', 'n2']), svc('bb', ['n1', 'n2']), svc('ccc', ['n1', 'n2'], ['eth1'])], nodes);
    expect(items[0]!.candidates).toBe(items[1]!.candidates);
    expect(items[0]!.candidates).toEqual(['n1', 'n2']);
    expect(items[2]!.candidates).toEqual(['n1']);
  });
});
