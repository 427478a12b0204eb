import { describe, expect, it } from 'vitest';
import type { MemberView } from '../membership/membership.js';
import { buildStatus, STATUS_SLICE_SERVICES, statusJsonSlices, type StatusInput } from './status.js';

const member = (name: string, self = false): MemberView => ({
  name,
  address: self ? '' : `${name}:7946`,
  state: 'alive',
  incarnation: 5,
  lastHeardMsAgo: 12.4,
  metadata: undefined,
  self,
});

const base = (services: StatusInput['services'], owned: StatusInput['owned'] = new Map()): StatusInput => ({
  node: 'n1',
  mode: 'standalone',
  now: 10_000,
  toWall: (t) => Date.UTC(2026, 10, 29, 20, 0, 0) + t,
  services,
  ownership: (name) => (name.endsWith('7') ? { owner: 'n1', since: 4_000, lastFailover: { at: 4_000, from: 'n2', to: 'n1', cause: 'death', durationMs: 1.5 } } : undefined),
  owned,
  view: { alive: new Set(['n1', 'n2']), members: new Map([['n1', member('n1', true)], ['n2', member('n2')]]) },
  conflicts: [],
  problems: ['a "quoted"\nproblem'],
  notReady: [],
});

describe('status text in slices', () => {
  it('is exactly the JSON of the document, with no service, one, and many over several slices', () => {
    const n = 2 * STATUS_SLICE_SERVICES + 3;
    const many = Array.from({ length: n }, (_, i) => ({ name: `ns/svc${i}`, addresses: [`10.0.${i >> 8}.${i & 255}`], owner: i % 2 === 0 ? 'n1' : 'n2' }));
    const owned = new Map(many.filter((s) => s.owner === 'n1').map((s) => [s.addresses[0]!, new Set(['eth0'])]));
    for (const input of [base([]), base([{ name: 'web', addresses: ['192.0.2.1'], owner: 'n1' }], new Map([['192.0.2.1', new Set(['eth0'])]])), base(many, owned)]) {
      const slices = [...statusJsonSlices(input)];
      expect(slices.join('')).toBe(`${JSON.stringify(buildStatus(input), null, 2)}\n`);
      // A slice per STATUS_SLICE_SERVICES services, and the rest in the last.
      expect(slices.length).toBe(Math.floor(input.services.length / STATUS_SLICE_SERVICES) + 1);
    }
  });
});

describe('status document', () => {
  it('assembles services, peers (without this node) and conflicts, with wall-clock ISO times', () => {
    const input: StatusInput = {
      node: 'n1',
      mode: 'standalone',
      now: 10_000,
      toWall: (t) => Date.UTC(2026, 10, 29, 20, 0, 0) + t,
      services: [
        { name: 'web', addresses: ['2001:db8:0::1', '192.0.2.1'], owner: 'n1' },
        { name: 'api', addresses: ['192.0.2.2'], owner: 'n2' },
        { name: 'new', addresses: ['192.0.2.3'], owner: undefined },
      ],
      ownership: (name) =>
        name === 'web'
          ? { owner: 'n1', since: 4_000, lastFailover: { at: 4_000, from: 'n2', to: 'n1', cause: 'death', durationMs: 1.23456 } }
          : name === 'api'
            ? { owner: 'n3', since: 1_000, lastFailover: undefined }
            : undefined,
      owned: new Map([
        ['2001:db8::1', new Set(['eth1', 'eth0'])],
        ['192.0.2.1', new Set(['eth0'])],
      ]),
      view: { alive: new Set(['n1', 'n2']), members: new Map([['n3', { ...member('n3'), state: 'dead' as const, lastHeardMsAgo: undefined }], ['n1', member('n1', true)], ['n2', member('n2')]]) },
      conflicts: [{ ip: '192.0.2.1', iface: 'eth0', otherMac: '0e:00:00:00:00:01', ourMac: undefined, service: 'web', firstSeen: 9_000, lastSeen: 9_500, count: 3, action: 'defend', transient: false, ongoing: true }],
      problems: [],
      notReady: ['starting'],
    };
    const doc = buildStatus(input);
    expect(doc).toEqual({
      schemaVersion: 1,
      node: 'n1',
      mode: 'standalone',
      generatedAt: '2026-11-29T20:00:10.000Z',
      services: [
        {
          name: 'web',
          addresses: ['2001:db8:0::1', '192.0.2.1'],
          owner: 'n1',
          interfaces: ['eth0', 'eth1'],
          ownedSince: '2026-11-29T20:00:04.000Z',
          lastFailover: { at: '2026-11-29T20:00:04.000Z', from: 'n2', to: 'n1', cause: 'death', durationMs: 1.235 },
        },
        // The history's owner is not the current one: since when is not known.
        { name: 'api', addresses: ['192.0.2.2'], owner: 'n2', interfaces: [], ownedSince: null, lastFailover: null },
        { name: 'new', addresses: ['192.0.2.3'], owner: null, interfaces: [], ownedSince: null, lastFailover: null },
      ],
      peers: [
        { name: 'n2', address: 'n2:7946', state: 'alive', incarnation: 5, lastHeardMsAgo: 12 },
        { name: 'n3', address: 'n3:7946', state: 'dead', incarnation: 5, lastHeardMsAgo: null },
      ],
      conflicts: [
        {
          ip: '192.0.2.1',
          iface: 'eth0',
          service: 'web',
          ourMac: null,
          otherMac: '0e:00:00:00:00:01',
          firstSeen: '2026-11-29T20:00:09.000Z',
          lastSeen: '2026-11-29T20:00:09.500Z',
          count: 3,
          action: 'defend',
          ongoing: true,
          transient: false,
        },
      ],
      health: { healthy: true, problems: [], ready: false, notReady: ['starting'] },
    });
  });
});
