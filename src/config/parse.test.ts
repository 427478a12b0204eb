import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { CONFIG_ERROR_CODES as E, CONFIG_WARNING_CODES as W } from './issue-codes.js';
import { assertValidConfig, parseConfig, parseConfigObjects, parseConfigText } from './parse.js';
import { l2AdvertisementsForPool, poolForIp, poolForIps } from './queries.js';
import type { ConfigIssue, ConfigParseResult } from './types.js';

const V = 'metallb.io/v1beta1';

function pool(name: string | undefined, spec: unknown, metadata: Record<string, unknown> = {}): unknown {
  return { apiVersion: V, kind: 'IPAddressPool', metadata: { ...(name !== undefined ? { name } : {}), ...metadata }, spec };
}

function l2(name: string, spec: unknown = {}, metadata: Record<string, unknown> = {}): unknown {
  return { apiVersion: V, kind: 'L2Advertisement', metadata: { name, ...metadata }, spec };
}

const announceAll = l2('all');

function brief(list: readonly ConfigIssue[]): string[] {
  return list.map((i) => `${i.code} ${i.object ? `${i.object.kind}/${i.object.name}` : '-'} ${i.path}`);
}

function errorsOf(objects: unknown[]): string[] {
  return brief(parseConfigObjects(objects).errors);
}

function warningsOf(objects: unknown[]): string[] {
  return brief(parseConfigObjects(objects).warnings);
}

function valid(objects: unknown[]): ConfigParseResult & { config: NonNullable<ConfigParseResult['config']> } {
  const r = parseConfigObjects(objects);
  expect(r.errors).toEqual([]);
  expect(r.config).toBeDefined();
  return r as ConfigParseResult & { config: NonNullable<ConfigParseResult['config']> };
}

describe('IPAddressPool validation (MetalLB internal/config rules)', () => {
  const cases: [string, unknown[], string[]][] = [
    ['a pool without a name', [pool(undefined, { addresses: ['10.0.0.0/24'] })], [`${E.nameMissing} IPAddressPool/ metadata.name`]],
    ['a name that is not a DNS subdomain', [pool('My_Pool', { addresses: ['10.0.0.0/24'] })], [`${E.nameInvalid} IPAddressPool/My_Pool metadata.name`]],
    ['an empty address list', [pool('p', { addresses: [] })], [`${E.noAddresses} IPAddressPool/p spec.addresses`]],
    ['no addresses field (required by the CRD)', [pool('p', {})], [`${E.schema} IPAddressPool/p spec.addresses`]],
    ['no spec at all', [{ apiVersion: V, kind: 'IPAddressPool', metadata: { name: 'p' } }], [`${E.schema} IPAddressPool/p spec`]],
    ['an invalid IP in a CIDR', [pool('p', { addresses: ['100.200.300.400/24'] })], [`${E.addressInvalid} IPAddressPool/p spec.addresses[0]`]],
    ['a prefix length above 32', [pool('p', { addresses: ['1.2.3.0/33'] })], [`${E.addressInvalid} IPAddressPool/p spec.addresses[0]`]],
    ['a prefix length above 128', [pool('p', { addresses: ['fc00::/129'] })], [`${E.addressInvalid} IPAddressPool/p spec.addresses[0]`]],
    ['spaces around a CIDR', [pool('p', { addresses: [' 10.0.0.0/8'] })], [`${E.addressInvalid} IPAddressPool/p spec.addresses[0]`]],
    ['a bare IPv4 address', [pool('p', { addresses: ['10.0.0.1'] })], [`${E.addressNoPrefix} IPAddressPool/p spec.addresses[0]`]],
    ['a bare IPv6 address', [pool('p', { addresses: ['fc00::1'] })], [`${E.addressNoPrefix} IPAddressPool/p spec.addresses[0]`]],
    ['a reversed range', [pool('p', { addresses: ['1.2.3.10-1.2.3.1'] })], [`${E.rangeReversed} IPAddressPool/p spec.addresses[0]`]],
    ['a reversed IPv6 range', [pool('p', { addresses: ['fc00::9-fc00::1'] })], [`${E.rangeReversed} IPAddressPool/p spec.addresses[0]`]],
    ['a range across families', [pool('p', { addresses: ['10.0.0.1-fc00::1'] })], [`${E.rangeMixedFamily} IPAddressPool/p spec.addresses[0]`]],
    ['a range of CIDRs', [pool('p', { addresses: ['10.0.0.0/24-10.0.1.0/24'] })], [`${E.addressInvalid} IPAddressPool/p spec.addresses[0]`]],
    [
      'the same CIDR in two pools',
      [pool('p1', { addresses: ['10.0.0.0/8'] }), pool('p2', { addresses: ['10.0.0.0/8'] })],
      [`${E.addressOverlap} IPAddressPool/p2 spec.addresses[0]`],
    ],
    [
      'overlapping CIDRs in two pools',
      [pool('p1', { addresses: ['10.0.0.0/8'] }), pool('p2', { addresses: ['10.0.0.0/16'] })],
      [`${E.addressOverlap} IPAddressPool/p2 spec.addresses[0]`],
    ],
    [
      'overlapping entries inside one pool',
      [pool('p', { addresses: ['10.0.0.0/24', '10.0.1.0/24', '10.0.0.200-10.0.1.3'] })],
      [`${E.addressOverlap} IPAddressPool/p spec.addresses[2]`, `${E.addressOverlap} IPAddressPool/p spec.addresses[2]`],
    ],
    ['a duplicate entry inside one pool', [pool('p', { addresses: ['fc00::/64', 'fc00::/64'] })], [`${E.addressOverlap} IPAddressPool/p spec.addresses[1]`]],
    [
      'a range overlapping a CIDR of another pool, written first',
      [pool('p1', { addresses: ['10.0.0.250-10.0.1.5'] }), pool('p2', { addresses: ['10.0.1.0/24'] })],
      [`${E.addressOverlap} IPAddressPool/p2 spec.addresses[0]`],
    ],
    [
      'a duplicate namespace in serviceAllocation',
      [pool('p', { addresses: ['10.0.0.0/24'], serviceAllocation: { priority: 1, namespaces: ['ns1', 'ns1'] } })],
      [`${E.duplicateEntry} IPAddressPool/p spec.serviceAllocation.namespaces[1]`],
    ],
    [
      'duplicate namespaceSelectors',
      [
        pool('p', {
          addresses: ['10.0.0.0/24'],
          serviceAllocation: { namespaceSelectors: [{ matchLabels: { foo: 'bar' } }, { matchLabels: { foo: 'bar' } }] },
        }),
      ],
      [`${E.duplicateEntry} IPAddressPool/p spec.serviceAllocation.namespaceSelectors[1]`],
    ],
    [
      'a duplicate value in a serviceSelector expression',
      [
        pool('p', {
          addresses: ['30.0.0.0/8'],
          serviceAllocation: { priority: 2, serviceSelectors: [{ matchExpressions: [{ key: 'foo', operator: 'In', values: ['bar', 'bar'] }] }] },
        }),
      ],
      [`${E.duplicateEntry} IPAddressPool/p spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].values[1]`],
    ],
    [
      'an invalid operator in a serviceSelector',
      [pool('p', { addresses: ['30.0.0.0/8'], serviceAllocation: { serviceSelectors: [{ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['b'] }] }] } })],
      [`${E.selectorInvalid} IPAddressPool/p spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].operator`],
    ],
    ['an invalid label on the pool', [pool('p', { addresses: ['10.0.0.0/24'] }, { labels: { 'bad key': 'x' } })], [`${E.labelInvalid} IPAddressPool/p metadata.labels["bad key"]`]],
    [
      'two pools with the same name',
      [pool('p1', { addresses: ['10.0.0.0/24'] }), pool('p2', { addresses: ['10.0.1.0/24'] }), pool('p1', { addresses: ['10.0.2.0/24'] })],
      [`${E.duplicateName} IPAddressPool/p1 metadata.name`],
    ],
    ['a non-integer priority', [pool('p', { addresses: ['10.0.0.0/24'], serviceAllocation: { priority: 1.5 } })], [`${E.schema} IPAddressPool/p spec.serviceAllocation.priority`]],
    ['a quoted boolean', [pool('p', { addresses: ['10.0.0.0/24'], autoAssign: 'false' })], [`${E.schema} IPAddressPool/p spec.autoAssign`]],
    ['a misspelt field', [pool('p', { adresses: ['10.0.0.0/24'] })], [`${E.unknownField} IPAddressPool/p spec.adresses`]],
    ['an unknown top-level field', [{ ...(pool('p', { addresses: ['10.0.0.0/24'] }) as object), specs: {} }], [`${E.unknownField} IPAddressPool/p specs`]],
  ];
  it.each(cases)('rejects %s', (_desc, objects, want) => {
    expect(errorsOf([...objects, announceAll])).toEqual(want);
  });

  it('collects every error instead of stopping at the first', () => {
    const r = parseConfigObjects([
      pool('p', { addresses: ['10.0.0.1', '10.0.0.9-10.0.0.1', 'nonsense/8', '10.0.0.0/24'] }),
      pool('q', { addresses: ['10.0.0.0/24'] }),
    ]);
    expect(r.config).toBeUndefined();
    expect(r.errors.map((e) => e.code)).toEqual([E.addressNoPrefix, E.rangeReversed, E.addressInvalid, E.addressOverlap]);
  });

  it('names the fix in the message', () => {
    const [noPrefix] = parseConfigObjects([pool('p', { addresses: ['10.0.0.1'] })]).errors;
    expect(noPrefix?.message).toContain('"10.0.0.1/32"');
    const [reversed] = parseConfigObjects([pool('p', { addresses: ['10.0.0.9-10.0.0.1'] })]).errors;
    expect(reversed?.message).toContain('write "10.0.0.1-10.0.0.9"');
    const [typo] = parseConfigObjects([pool('p', { addresses: ['10.0.0.0/24'], avoidBuggyIps: true })]).errors;
    expect(typo?.message).toContain('did you mean "avoidBuggyIPs"?');
    const [overlap] = parseConfigObjects([pool('a', { addresses: ['10.0.0.0/8'] }), pool('b', { addresses: ['10.1.0.0/16'] })]).errors;
    expect(overlap?.message).toContain('IPAddressPool "a"');
  });

  it('accepts what MetalLB accepts: namespaces, namespaceSelectors, serviceSelectors, priority only', () => {
    const { config } = valid([
      pool('pool1', {
        addresses: ['10.20.0.0/16', '10.50.0.0/24'],
        avoidBuggyIPs: true,
        autoAssign: false,
        serviceAllocation: { priority: 1, namespaces: ['test-ns1'] },
      }),
      pool('pool2', { addresses: ['30.0.0.0/8'], serviceAllocation: { priority: 2, namespaceSelectors: [{ matchLabels: { team: 'metallb' } }] } }),
      pool('pool3', {
        addresses: ['40.0.0.0/8'],
        serviceAllocation: {
          priority: 3,
          namespaceSelectors: [{ matchLabels: { team: 'metallb' } }],
          serviceSelectors: [{ matchLabels: { 'testsvc-2': '2' } }],
        },
      }),
      pool('pool4', { addresses: ['50.0.0.0/8'], serviceAllocation: { priority: 1 } }),
      announceAll,
    ]);
    expect(config.pools.map((p) => [p.name, p.autoAssign, p.avoidBuggyIPs, p.cidrStrings])).toEqual([
      ['pool1', false, true, ['10.20.0.0/16', '10.50.0.0/24']],
      ['pool2', true, false, ['30.0.0.0/8']],
      ['pool3', true, false, ['40.0.0.0/8']],
      ['pool4', true, false, ['50.0.0.0/8']],
    ]);
    expect(config.pools[0]?.serviceAllocation).toEqual({ priority: 1, namespaces: ['test-ns1'], namespaceSelectors: [], serviceSelectors: [] });
    expect(config.pools[3]?.serviceAllocation).toEqual({ priority: 1, namespaces: [], namespaceSelectors: [], serviceSelectors: [] });
  });

  it("accepts MetalLB's 'config using all features' (its layer 2 part), warning about the BGP objects", () => {
    const r = valid([
      { apiVersion: 'metallb.io/v1beta2', kind: 'BGPPeer', metadata: { name: 'peer1' }, spec: { myASN: 42, peerASN: 142, peerAddress: '1.2.3.4' } },
      pool('pool1', { addresses: ['10.20.0.0/16', '10.50.0.0/24'], avoidBuggyIPs: true, autoAssign: false }),
      pool('pool2', { addresses: ['30.0.0.0/8'] }),
      pool('pool3', { addresses: ['40.0.0.0/25', '40.0.0.150-40.0.0.200', '40.0.0.210 - 40.0.0.240', '40.0.0.250 - 40.0.0.250'] }),
      pool('pool4', { addresses: ['2001:db8::/64'] }),
      { apiVersion: V, kind: 'BGPAdvertisement', metadata: { name: 'adv1' }, spec: { ipAddressPools: ['pool1'] } },
      l2('l2adv1', { ipAddressPools: ['pool1'] }),
    ]);
    expect(r.config.pools.find((p) => p.name === 'pool3')?.cidrStrings).toEqual([
      '40.0.0.0/25',
      '40.0.0.150/31',
      '40.0.0.152/29',
      '40.0.0.160/27',
      '40.0.0.192/29',
      '40.0.0.200/32',
      '40.0.0.210/31',
      '40.0.0.212/30',
      '40.0.0.216/29',
      '40.0.0.224/28',
      '40.0.0.240/32',
      '40.0.0.250/32',
    ]);
    expect(r.warnings.map((w) => w.code)).toEqual([
      W.bgpUnsupported,
      W.poolNotAdvertised,
      W.poolNotAdvertised,
      W.poolNotAdvertised,
      W.bgpUnsupported,
    ]);
  });

  it('normalises CIDRs and summarises ranges in spec order', () => {
    const r = valid([pool('p', { addresses: ['10.0.0.128/25', '192.168.1.77/24', '10.0.0.10-10.0.0.20', 'FC00::1:0/112'] }), announceAll]);
    expect(r.config.pools[0]?.cidrStrings).toEqual([
      '10.0.0.128/25',
      '192.168.1.0/24',
      '10.0.0.10/31',
      '10.0.0.12/30',
      '10.0.0.16/30',
      '10.0.0.20/32',
      'fc00::1:0/112',
    ]);
    expect(brief(r.warnings)).toEqual([`${W.hostBits} IPAddressPool/p spec.addresses[1]`]);
  });

  it('allows ranges with spaces around the addresses, as MetalLB trims them', () => {
    expect(valid([pool('p', { addresses: ['10.0.0.1 - 10.0.0.5'] }), announceAll]).config.pools[0]?.cidrStrings).toEqual([
      '10.0.0.1/32',
      '10.0.0.2/31',
      '10.0.0.4/31',
    ]);
  });

  it('allows adjacent but not overlapping entries', () => {
    valid([pool('a', { addresses: ['10.0.0.0/25'] }), pool('b', { addresses: ['10.0.0.128-10.0.0.255', 'fc00::/64'] }), announceAll]);
  });

  it('warns about a negative priority', () => {
    expect(warningsOf([pool('p', { addresses: ['10.0.0.0/24'], serviceAllocation: { priority: -1 } }), announceAll])).toEqual([
      `${W.negativePriority} IPAddressPool/p spec.serviceAllocation.priority`,
    ]);
  });
});

describe('L2Advertisement validation', () => {
  const p1 = pool('pool1', { addresses: ['10.20.0.0/16'] }, { labels: { test: 'pool1' } });
  const p2 = pool('pool2', { addresses: ['30.0.0.0/16'] }, { labels: { test: 'pool2' } });
  const sel = (labels: Record<string, string>): unknown => ({ matchLabels: labels });
  const cases: [string, unknown, string[]][] = [
    ['a pool listed twice', { ipAddressPools: ['pool1', 'pool1'] }, [`${E.duplicateEntry} L2Advertisement/adv spec.ipAddressPools[1]`]],
    [
      'duplicate ipAddressPoolSelectors',
      { ipAddressPoolSelectors: [sel({ test: 'pool1' }), sel({ test: 'pool1' })] },
      [`${E.duplicateEntry} L2Advertisement/adv spec.ipAddressPoolSelectors[1]`],
    ],
    [
      'a duplicate expression in an ipAddressPoolSelector',
      {
        ipAddressPoolSelectors: [
          {
            matchExpressions: [
              { key: 'test', operator: 'In', values: ['pool1'] },
              { key: 'test', operator: 'In', values: ['pool1'] },
            ],
          },
        ],
      },
      [`${E.duplicateEntry} L2Advertisement/adv spec.ipAddressPoolSelectors[0].matchExpressions[1]`],
    ],
    ['duplicate nodeSelectors', { nodeSelectors: [sel({ a: 'b' }), sel({ a: 'b' })] }, [`${E.duplicateEntry} L2Advertisement/adv spec.nodeSelectors[1]`]],
    [
      'a duplicate value in a nodeSelector expression',
      { nodeSelectors: [{ matchLabels: { foo: 'bar' }, matchExpressions: [{ key: 'bar', operator: 'In', values: ['quux', 'quux'] }] }] },
      [`${E.duplicateEntry} L2Advertisement/adv spec.nodeSelectors[0].matchExpressions[0].values[1]`],
    ],
    [
      'a nodeSelector expression without key',
      { nodeSelectors: [{ matchExpressions: [{ operator: 'In', values: ['quux'] }] }] },
      [`${E.schema} L2Advertisement/adv spec.nodeSelectors[0].matchExpressions[0].key`],
    ],
    [
      'a nodeSelector expression without operator',
      { nodeSelectors: [{ matchExpressions: [{ key: 'bar', values: ['quux'] }] }] },
      [`${E.schema} L2Advertisement/adv spec.nodeSelectors[0].matchExpressions[0].operator`],
    ],
    [
      'an invalid nodeSelector operator',
      { nodeSelectors: [{ matchLabels: { foo: 'bar' }, matchExpressions: [{ key: 'bar', operator: 'surrounds', values: ['quux'] }] }] },
      [`${E.selectorInvalid} L2Advertisement/adv spec.nodeSelectors[0].matchExpressions[0].operator`],
    ],
    [
      'Exists with values',
      { nodeSelectors: [{ matchExpressions: [{ key: 'bar', operator: 'Exists', values: ['x'] }] }] },
      [`${E.selectorInvalid} L2Advertisement/adv spec.nodeSelectors[0].matchExpressions[0].values`],
    ],
    ['duplicate serviceSelectors', { serviceSelectors: [sel({ a: 'b' }), sel({ a: 'b' })] }, [`${E.duplicateEntry} L2Advertisement/adv spec.serviceSelectors[1]`]],
    [
      'an invalid label value in a serviceSelector',
      { serviceSelectors: [sel({ app: 'has space' })] },
      [`${E.selectorInvalid} L2Advertisement/adv spec.serviceSelectors[0].matchLabels.app`],
    ],
    ['a boolean label value', { nodeSelectors: [{ matchLabels: { enabled: true } }] }, [`${E.schema} L2Advertisement/adv spec.nodeSelectors[0].matchLabels.enabled`]],
    ['a preference weight of 0', { preferredNodeSelectors: [{ weight: 0, preference: {} }] }, [`${E.schema} L2Advertisement/adv spec.preferredNodeSelectors[0].weight`]],
    ['a preference weight of 101', { preferredNodeSelectors: [{ weight: 101, preference: {} }] }, [`${E.schema} L2Advertisement/adv spec.preferredNodeSelectors[0].weight`]],
    [
      'an invalid preference',
      { preferredNodeSelectors: [{ weight: 5, preference: { matchExpressions: [{ key: 'k', operator: 'In' }] } }] },
      [`${E.selectorInvalid} L2Advertisement/adv spec.preferredNodeSelectors[0].preference.matchExpressions[0].values`],
    ],
    ['interfaces as a string', { interfaces: 'eth0' }, [`${E.schema} L2Advertisement/adv spec.interfaces`]],
  ];
  it.each(cases)('rejects %s', (_desc, spec, want) => {
    expect(errorsOf([p1, p2, l2('adv', spec)])).toEqual(want);
  });

  it('announces every pool when neither ipAddressPools nor selectors are set', () => {
    const { config } = valid([p1, p2, l2('adv')]);
    expect(config.l2Advertisements[0]?.pools).toEqual(['pool1', 'pool2']);
    expect(config.pools.map((p) => p.l2Advertisements)).toEqual([['adv'], ['adv']]);
  });

  it('treats a null list like an absent one (the API server prunes nulls)', () => {
    const { config } = valid([p1, p2, l2('adv', { ipAddressPools: null, interfaces: null })]);
    expect(config.l2Advertisements[0]?.pools).toEqual(['pool1', 'pool2']);
    expect(config.l2Advertisements[0]?.interfaces).toEqual([]);
  });

  it('resolves ipAddressPoolSelectors against pool labels', () => {
    const r = valid([p1, p2, l2('adv', { ipAddressPoolSelectors: [sel({ test: 'pool1' })] })]);
    expect(r.config.l2Advertisements[0]?.pools).toEqual(['pool1']);
    expect(brief(r.warnings)).toEqual([`${W.poolNotAdvertised} IPAddressPool/pool2 `]);
  });

  it('attaches a pool once when named and selected', () => {
    const { config } = valid([p1, p2, l2('adv', { ipAddressPools: ['pool1'], ipAddressPoolSelectors: [sel({ test: 'pool1' })] })]);
    expect(config.l2Advertisements[0]?.pools).toEqual(['pool1']);
    expect(config.pools[0]?.l2Advertisements).toEqual(['adv']);
  });

  it('lists every advertisement of a pool', () => {
    const { config } = valid([p1, p2, l2('b', { ipAddressPools: ['pool1'] }), l2('a', { ipAddressPools: ['pool1', 'pool2'] })]);
    expect(l2AdvertisementsForPool(config, 'pool1').map((a) => a.name)).toEqual(['a', 'b']);
    expect(l2AdvertisementsForPool(config, 'pool2').map((a) => a.name)).toEqual(['a']);
  });

  it('keeps interfaces, node, service and preferred node selectors', () => {
    const { config } = valid([
      p1,
      l2('adv', {
        interfaces: ['eth0'],
        nodeSelectors: [{ matchLabels: { 'kubernetes.io/hostname': 'node1' } }],
        serviceSelectors: [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] }],
        preferredNodeSelectors: [{ weight: 50, preference: { matchLabels: { zone: 'a' } } }],
      }),
    ]);
    const adv = config.l2Advertisements[0];
    expect(adv?.interfaces).toEqual(['eth0']);
    expect(adv?.nodeSelectors).toEqual([{ matchLabels: { 'kubernetes.io/hostname': 'node1' } }]);
    expect(adv?.serviceSelectors).toEqual([{ matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] }]);
    expect(adv?.preferredNodeSelectors).toEqual([{ weight: 50, preference: { matchLabels: { zone: 'a' } } }]);
  });

  it('warns, but accepts, a pool name that does not exist', () => {
    const r = valid([p1, l2('adv', { ipAddressPools: ['pool1', 'pool11'] })]);
    expect(brief(r.warnings)).toEqual([`${W.poolNotFound} L2Advertisement/adv spec.ipAddressPools[1]`]);
    expect(r.warnings[0]?.message).toContain('did you mean "pool1"?');
    expect(r.config.l2Advertisements[0]?.pools).toEqual(['pool1']);
  });

  it('warns, but accepts, a pool selector that matches nothing (and the pools it leaves unannounced)', () => {
    const r = valid([p1, p2, l2('adv', { ipAddressPoolSelectors: [sel({ test: 'do-not-select-pool' })] })]);
    expect(brief(r.warnings)).toEqual([
      `${W.poolNotAdvertised} IPAddressPool/pool1 `,
      `${W.poolNotAdvertised} IPAddressPool/pool2 `,
      `${W.selectorMatchesNothing} L2Advertisement/adv spec.ipAddressPoolSelectors[0]`,
    ]);
    expect(r.config.l2Advertisements[0]?.pools).toEqual([]);
  });

  it('warns about duplicate or impossible interface names, which MetalLB accepts', () => {
    expect(warningsOf([p1, l2('adv', { interfaces: ['eth0', 'eth0', 'a-name-far-too-long', 'bond0:1'] })])).toEqual([
      `${W.duplicateInterface} L2Advertisement/adv spec.interfaces[1]`,
      `${W.interfaceName} L2Advertisement/adv spec.interfaces[2]`,
      `${W.interfaceName} L2Advertisement/adv spec.interfaces[3]`,
    ]);
  });

  it('rejects two advertisements with the same name', () => {
    expect(errorsOf([p1, l2('adv'), l2('adv')])).toEqual([`${E.duplicateName} L2Advertisement/adv metadata.name`]);
  });
});

describe('objects that are not l2vip configuration', () => {
  it.each([
    ['BGPPeer', 'metallb.io/v1beta2'],
    ['BGPPeer', 'metallb.io/v1beta1'],
    ['BGPAdvertisement', V],
    ['Community', V],
    ['BFDProfile', V],
  ])('warns that %s (%s) is not supported', (kind, apiVersion) => {
    const r = valid([{ apiVersion, kind, metadata: { name: 'x' }, spec: {} }, pool('p', { addresses: ['10.0.0.0/24'] }), announceAll]);
    expect(brief(r.warnings)).toEqual([`${W.bgpUnsupported} ${kind}/x `]);
    expect(r.warnings[0]?.message).toBe(`${kind} is not supported by l2vip (layer 2 only): ignored`);
  });

  it('rejects a misspelt metallb.io kind with a suggestion', () => {
    const r = parseConfigObjects([{ apiVersion: V, kind: 'IPAdressPool', metadata: { name: 'p' }, spec: {} }]);
    expect(brief(r.errors)).toEqual([`${E.unknownKind} IPAdressPool/p kind`]);
    expect(r.errors[0]?.message).toContain('did you mean "IPAddressPool"?');
  });

  it.each(['metallb.io/v1beta2', 'metallb.io/v1alpha1', 'metallb.universe.tf/v1beta1'])('rejects IPAddressPool as %s', (apiVersion) => {
    const r = parseConfigObjects([{ apiVersion, kind: 'IPAddressPool', metadata: { name: 'p' }, spec: { addresses: ['10.0.0.0/24'] } }]);
    expect(brief(r.errors)).toEqual([`${E.apiVersion} IPAddressPool/p apiVersion`]);
  });

  it('rejects an object without kind', () => {
    expect(errorsOf([{ apiVersion: V, metadata: { name: 'x' } }])).toEqual([`${E.missingKind} - kind`]);
  });

  it('ignores other Kubernetes objects with a warning', () => {
    const r = valid([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'metallb-system' } }, pool('p', { addresses: ['10.0.0.0/24'] }), announceAll]);
    expect(brief(r.warnings)).toEqual([`${W.ignoredKind} Namespace/metallb-system `]);
  });

  it('flags the pre-0.13 ConfigMap format', () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config' }, data: { config: 'address-pools:\n- name: default\n' } };
    expect(warningsOf([cm])).toEqual([`${W.legacyConfigMap} ConfigMap/config data.config`, `${W.noPools} - `]);
  });

  it('reads the items of a List', () => {
    const r = parseConfigObjects([
      { apiVersion: 'v1', kind: 'List', items: [pool('p', { addresses: ['10.0.0.1'] }), announceAll] },
    ]);
    expect(brief(r.errors)).toEqual([`${E.addressNoPrefix} IPAddressPool/p spec.addresses[0]`]);
  });

  it('warns about an empty configuration and one without pools', () => {
    expect(warningsOf([])).toEqual([`${W.emptyInput} - `]);
    expect(warningsOf([announceAll])).toEqual([`${W.noPools} - `]);
    expect(parseConfigObjects([]).config).toEqual({ pools: [], l2Advertisements: [] });
  });

  it('warns when objects are spread over namespaces', () => {
    expect(
      warningsOf([pool('p', { addresses: ['10.0.0.0/24'] }, { namespace: 'metallb-system' }), l2('all', {}, { namespace: 'default' })]),
    ).toEqual([`${W.mixedNamespaces} L2Advertisement/all metadata.namespace`]);
  });
});

describe('YAML input', () => {
  const good = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: first
spec:
  addresses:
    - 192.168.10.0/24
  autoAssign: no
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: l2
spec:
  ipAddressPools:
`;

  it('reads several documents, YAML 1.1 booleans as kubectl does, and null lists as absent', () => {
    const r = parseConfigText(good, 'pools.yaml');
    expect(r.errors).toEqual([]);
    expect(r.config?.pools[0]?.autoAssign).toBe(false);
    expect(r.config?.l2Advertisements[0]?.pools).toEqual(['first']);
  });

  it('reports the file, line and column of a bad field', () => {
    const r = parseConfigText(good.replace('192.168.10.0/24', '192.168.10.0/33'), 'pools.yaml');
    expect(r.errors).toMatchObject([
      {
        code: E.addressInvalid,
        severity: 'error',
        file: 'pools.yaml',
        line: 8,
        column: 7,
        document: 0,
        object: { kind: 'IPAddressPool', name: 'first' },
        path: 'spec.addresses[0]',
      },
    ]);
  });

  it('reports YAML syntax errors with their line', () => {
    const r = parseConfigText('kind: IPAddressPool\nmetadata: name: x\n', 'bad.yaml');
    expect(r.errors[0]).toMatchObject({ code: E.yamlSyntax, file: 'bad.yaml', line: 2 });
    expect(r.errors[0]?.message).not.toMatch(/at line/);
  });

  it('rejects duplicate keys, as kubectl does', () => {
    const r = parseConfigText('apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nkind: L2Advertisement\n');
    expect(r.errors.map((e) => e.code)).toEqual([E.yamlSyntax]);
  });

  it('rejects a document that is not a map', () => {
    expect(brief(parseConfigText('- a\n- b\n').errors)).toEqual([`${E.notAnObject} - `]);
  });

  it('does not read 1:20 as a sexagesimal number (Go YAML does not)', () => {
    const r = parseConfigText('apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: a}\nspec:\n  interfaces: [1:20]\n');
    expect(r.errors).toEqual([]);
    expect(brief(r.warnings)).toContain(`${W.interfaceName} L2Advertisement/a spec.interfaces[0]`);
  });

  it('accepts text and object inputs together', () => {
    const r = parseConfig([{ text: good, file: 'a.yaml' }, { object: pool('second', { addresses: ['10.9.0.0/24'] }), file: 'api' }]);
    expect(r.config?.pools.map((p) => p.name)).toEqual(['first', 'second']);
  });
});

describe('the Config value', () => {
  const { config } = valid([
    pool('b', { addresses: ['10.0.1.0/24', 'fc00::/64'] }),
    pool('a', { addresses: ['10.0.0.0/24'], avoidBuggyIPs: true }),
    announceAll,
  ]);

  it('is deeply frozen', () => {
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.pools)).toBe(true);
    expect(Object.isFrozen(config.pools[0]?.cidrs)).toBe(true);
    expect(Object.isFrozen(config.pools[0]?.cidrs[0])).toBe(true);
    expect(() => (config.pools as unknown as unknown[]).push(1)).toThrow();
  });

  it('sorts pools by name and applies defaults', () => {
    expect(config.pools.map((p) => [p.name, p.autoAssign, p.avoidBuggyIPs, p.serviceAllocation])).toEqual([
      ['a', true, true, undefined],
      ['b', true, false, undefined],
    ]);
  });

  it('finds the pool of an IP (ignoring avoidBuggyIPs, as the speaker does)', () => {
    expect(poolForIp(config, '10.0.1.7')?.name).toBe('b');
    expect(poolForIp(config, '10.0.0.0')?.name).toBe('a');
    expect(poolForIp(config, 'fc00::ffff')?.name).toBe('b');
    expect(poolForIp(config, '10.0.2.1')).toBeUndefined();
    expect(poolForIp(config, 'not an ip')).toBeUndefined();
    expect(poolForIps(config, ['10.0.1.1', 'fc00::1'])?.name).toBe('b');
    expect(poolForIps(config, ['10.0.0.1', 'fc00::1'])).toBeUndefined();
  });

  it('assertValidConfig throws a ConfigError that lists every error', () => {
    const bad = parseConfigObjects([pool('p', { addresses: ['10.0.0.1', 'x'] })]);
    expect(() => assertValidConfig(bad)).toThrow(ConfigError);
    try {
      assertValidConfig(bad);
    } catch (e) {
      expect((e as ConfigError).issues.map((i) => i.code)).toEqual([E.addressNoPrefix, E.addressInvalid]);
      expect((e as ConfigError).message).toMatch(/^invalid configuration \(2 errors\): spec.addresses\[0\]/);
    }
  });
});

describe('objects read from the API server (unknownFields: warn)', () => {
  const pool = {
    apiVersion: 'metallb.io/v1beta1',
    kind: 'IPAddressPool',
    metadata: { name: 'p', namespace: 'metallb-system', uid: 'u1', resourceVersion: '7' },
    spec: { addresses: ['10.0.0.0/24'], newerField: true, serviceAllocation: { priority: 1, futureKnob: 'x' } },
  };

  it('an unknown field is an error by default (files)', () => {
    const r = parseConfigObjects([pool]);
    expect(r.config).toBeUndefined();
    expect(r.errors.map((e) => e.code)).toContain(E.unknownField);
  });

  it('an unknown field is a warning and the object is still used', () => {
    const r = parseConfigObjects([pool], { unknownFields: 'warn' });
    expect(r.errors).toEqual([]);
    expect(r.config?.pools.map((p) => p.name)).toEqual(['p']);
    expect(r.config?.pools[0]?.serviceAllocation?.priority).toBe(1);
    const paths = r.warnings.filter((w) => w.code === W.unknownField).map((w) => w.path);
    expect(paths.sort()).toEqual(['spec.newerField', 'spec.serviceAllocation.futureKnob']);
  });

  it('other schema errors still invalidate the object', () => {
    const bad = { ...pool, spec: { addresses: 'not-a-list', newerField: 1 } };
    const r = parseConfigObjects([bad], { unknownFields: 'warn' });
    expect(r.config).toBeUndefined();
    expect(r.errors.map((e) => e.code)).toContain(E.schema);
  });
});
