import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfigObjects } from '../config/parse.js';
import type { Config } from '../config/types.js';
import { Elector } from '../election/elect.js';
import {
  DesiredMemo,
  SKIP_REASONS,
  endpointCanServe,
  kubernetesDesiredState,
  type EndpointLike,
  type EndpointSliceLike,
  type KubernetesSpeakerInput,
  type KubernetesSpeakerOptions,
  type NodeLike,
  type ServiceLike,
} from './kubernetes-desired.js';
import { computeOwnership, type NodeStatus } from './ownership.js';

const V = 'metallb.io/v1beta1';
type Val<A> = A extends fc.Arbitrary<infer T> ? T : never;

function config(objects: unknown[]): Config {
  const r = parseConfigObjects(objects);
  expect(r.errors).toEqual([]);
  if (r.config === undefined) throw new Error('invalid test config');
  return r.config;
}
const pool = (name: string, addresses: string[], labels: Record<string, string> = {}): unknown => ({
  apiVersion: V,
  kind: 'IPAddressPool',
  metadata: { name, namespace: 'metallb-system', labels },
  spec: { addresses },
});
const l2 = (name: string, spec: Record<string, unknown> = {}): unknown => ({ apiVersion: V, kind: 'L2Advertisement', metadata: { name, namespace: 'metallb-system' }, spec });

const BASIC = config([pool('default', ['10.0.0.0/24', 'fc00::/120']), pool('other', ['10.0.1.0/24']), l2('all')]);

interface SvcOpts {
  ns?: string;
  ips?: readonly string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  etp?: string;
  cls?: string;
  type?: string;
}
function svc(name: string, o: SvcOpts = {}): ServiceLike {
  return {
    metadata: { name, namespace: o.ns ?? 'ns', labels: o.labels ?? {}, annotations: o.annotations ?? {} },
    spec: {
      type: o.type ?? 'LoadBalancer',
      ...(o.cls !== undefined ? { loadBalancerClass: o.cls } : {}),
      ...(o.etp !== undefined ? { externalTrafficPolicy: o.etp } : {}),
    },
    status: { loadBalancer: { ingress: (o.ips ?? ['10.0.0.1']).map((ip) => ({ ip })) } },
  };
}
function slice(service: string, endpoints: EndpointLike[], ns = 'ns'): EndpointSliceLike {
  return { metadata: { name: `${service}-x`, namespace: ns, labels: { 'kubernetes.io/service-name': service } }, endpoints };
}
const ready = (nodeName?: string): EndpointLike => ({ ...(nodeName !== undefined ? { nodeName } : {}), conditions: { ready: true } });
function node(name: string, labels: Record<string, string> = {}, networkUnavailable?: string): NodeLike {
  return {
    metadata: { name, labels },
    status: { conditions: [{ type: 'Ready', status: 'True' }, ...(networkUnavailable !== undefined ? [{ type: 'NetworkUnavailable', status: networkUnavailable }] : [])] },
  };
}
const NODES = [node('node-a'), node('node-b'), node('node-c')];

function run(p: Partial<KubernetesSpeakerInput> & { services: readonly ServiceLike[] }, options?: KubernetesSpeakerOptions) {
  return kubernetesDesiredState({
    self: 'node-a',
    config: BASIC,
    endpointSlices: p.services.map((s) => slice(s.metadata?.name ?? '', [ready('node-a')], s.metadata?.namespace)),
    nodes: NODES,
    ...p,
    options: options ?? p.options,
  });
}

describe('Kubernetes speaker: which Services are ours', () => {
  it('turn a LoadBalancer Service with an IP and a serving endpoint into a ServiceSpec over every node', () => {
    const r = run({ services: [svc('web')] });
    expect(r.skipped).toEqual([]);
    expect(r.services).toEqual([{ name: 'ns/web', addresses: ['10.0.0.1'], nodes: ['node-a', 'node-b', 'node-c'] }]);
  });

  it('ignore Services not of type LoadBalancer, silently', () => {
    const r = run({ services: [svc('c', { type: 'ClusterIP' }), svc('n', { type: 'NodePort' }), { metadata: { name: 'x', namespace: 'ns' } }] });
    expect(r).toEqual({ services: [], skipped: [] });
  });

  it('without --lb-class handle only Services without a class; with it only that class', () => {
    const services = [svc('none'), svc('ours', { cls: 'example.com/l2vip' }), svc('theirs', { cls: 'other' })];
    expect(run({ services }).services.map((s) => s.name)).toEqual(['ns/none']);
    expect(run({ services }, { loadBalancerClass: '' }).services.map((s) => s.name)).toEqual(['ns/none']);
    expect(run({ services }, { loadBalancerClass: 'example.com/l2vip' }).services.map((s) => s.name)).toEqual(['ns/ours']);
  });

  it('report a Service without an IP in status, or with an invalid one, and do not announce it', () => {
    const noIp: ServiceLike = { ...svc('pending'), status: { loadBalancer: {} } };
    const hostname: ServiceLike = { ...svc('host'), status: { loadBalancer: { ingress: [{}] } } };
    const r = run({ services: [noIp, hostname, svc('bad', { ips: ['10.0.0.1', '10.0.0.300'] })] });
    expect(r.services).toEqual([]);
    expect(r.skipped.map((s) => [s.service, s.reason])).toEqual([
      ['ns/bad', SKIP_REASONS.invalidIP],
      ['ns/host', SKIP_REASONS.invalidIP],
      ['ns/pending', SKIP_REASONS.noIPAllocated],
    ]);
    expect(r.skipped[0]?.message).toContain('10.0.0.300');
  });

  it('report an IP that no pool covers, and IPs split over two pools (MetalLB ipNotAllowed)', () => {
    const r = run({ services: [svc('stray', { ips: ['192.0.2.1'] }), svc('split', { ips: ['10.0.0.1', '10.0.1.1'] })] });
    expect(r.services).toEqual([]);
    expect(r.skipped).toEqual([
      expect.objectContaining({ service: 'ns/split', reason: SKIP_REASONS.ipNotAllowed, ips: ['10.0.0.1', '10.0.1.1'] }),
      expect.objectContaining({ service: 'ns/stray', reason: SKIP_REASONS.ipNotAllowed, ips: ['192.0.2.1'] }),
    ]);
    expect(r.skipped[1]?.message).toMatch(/192\.0\.2\.1 is not in any IPAddressPool/);
  });

  it('keep dual-stack IPs in status order (ingress[0] is the hash key), in Go canonical text', () => {
    const r = run({ services: [svc('v6first', { ips: ['FC00:0::0001', '10.0.0.7'] }), svc('v4first', { ips: ['10.0.0.7', 'fc00::1'] })] });
    expect(r.services.map((s) => [s.name, s.addresses])).toEqual([
      ['ns/v4first', ['10.0.0.7', 'fc00::1']],
      ['ns/v6first', ['fc00::1', '10.0.0.7']],
    ]);
  });

  it('make each Service sharing an IP its own ServiceSpec (MetalLB announces per Service)', () => {
    const a = svc('dns-tcp', { ips: ['10.0.0.53'], annotations: { 'metallb.io/allow-shared-ip': 'dns' } });
    const b = svc('dns-udp', { ips: ['10.0.0.53'], annotations: { 'metallb.io/allow-shared-ip': 'dns' } });
    const r = run({ services: [b, a] });
    expect(r.services.map((s) => [s.name, s.addresses])).toEqual([
      ['ns/dns-tcp', ['10.0.0.53']],
      ['ns/dns-udp', ['10.0.0.53']],
    ]);
  });
});

describe('Kubernetes speaker: endpoints', () => {
  it('count ready-unset, ready and terminating-but-serving endpoints as able to serve (EndpointCanServe)', () => {
    expect(endpointCanServe({})).toBe(true);
    expect(endpointCanServe({ conditions: {} })).toBe(true);
    expect(endpointCanServe({ conditions: { ready: true } })).toBe(true);
    expect(endpointCanServe({ conditions: { ready: false, serving: true } })).toBe(true);
    expect(endpointCanServe({ conditions: { ready: false } })).toBe(false);
    expect(endpointCanServe({ conditions: { ready: false, serving: false } })).toBe(false);
  });

  it('announce nothing without a serving endpoint, whatever the traffic policy', () => {
    for (const etp of ['Cluster', 'Local']) {
      const s = svc('web', { etp });
      const none = run({ services: [s], endpointSlices: [] });
      const notReady = run({ services: [s], endpointSlices: [slice('web', [{ nodeName: 'node-a', conditions: { ready: false, serving: false } }])] });
      for (const r of [none, notReady]) {
        expect(r.services).toEqual([]);
        expect(r.skipped.map((x) => x.reason)).toEqual([SKIP_REASONS.noServingEndpoints]);
      }
    }
  });

  it('take the endpoints from the slices of the Service in its own namespace only', () => {
    const r = run({ services: [svc('web')], endpointSlices: [slice('web', [ready('node-a')], 'elsewhere'), slice('web2', [ready('node-a')])] });
    expect(r.skipped.map((x) => x.reason)).toEqual([SKIP_REASONS.noServingEndpoints]);
  });

  it('with Cluster policy let every node announce, even one without endpoints', () => {
    const r = run({ services: [svc('web', { etp: 'Cluster' })], endpointSlices: [slice('web', [ready()])] });
    expect(r.services[0]?.nodes).toEqual(['node-a', 'node-b', 'node-c']);
  });

  it('with Local policy let only nodes with a serving endpoint announce', () => {
    const endpoints = [ready('node-c'), { nodeName: 'node-b', conditions: { ready: false, serving: true } }, { nodeName: 'node-a', conditions: { ready: false } }, ready()];
    const r = run({ services: [svc('web', { etp: 'Local' })], endpointSlices: [slice('web', endpoints.slice(0, 2)), slice('web', endpoints.slice(2))] });
    expect(r.services[0]?.nodes).toEqual(['node-b', 'node-c']);
  });

  it('with Local policy and endpoints only on nodes that may not announce, announce nothing', () => {
    const nodes = [node('node-a'), node('node-b', {}, 'True'), node('node-c', { 'node.kubernetes.io/exclude-from-external-load-balancers': '' })];
    const onlyNoName = run({ services: [svc('web', { etp: 'Local' })], endpointSlices: [slice('web', [ready()])] });
    const excluded = run({ services: [svc('web', { etp: 'Local' })], nodes, endpointSlices: [slice('web', [ready('node-b'), ready('node-c'), ready('node-z')])] });
    for (const r of [onlyNoName, excluded]) expect(r.skipped.map((x) => x.reason)).toEqual([SKIP_REASONS.noLocalEndpoints]);
  });
});

describe('Kubernetes speaker: nodes', () => {
  it('drop nodes with NetworkUnavailable=True; keep False and Unknown', () => {
    const nodes = [node('node-a', {}, 'False'), node('node-b', {}, 'True'), node('node-c', {}, 'Unknown')];
    expect(run({ services: [svc('web')], nodes }).services[0]?.nodes).toEqual(['node-a', 'node-c']);
  });

  it('drop nodes labelled exclude-from-external-load-balancers, whatever the value, unless --ignore-exclude-lb', () => {
    const nodes = [node('node-a'), node('node-b', { 'node.kubernetes.io/exclude-from-external-load-balancers': '' }), node('node-c', { 'node.kubernetes.io/exclude-from-external-load-balancers': 'false' })];
    expect(run({ services: [svc('web')], nodes }).services[0]?.nodes).toEqual(['node-a']);
    expect(run({ services: [svc('web')], nodes }, { ignoreExcludeLb: true }).services[0]?.nodes).toEqual(['node-a', 'node-b', 'node-c']);
  });

  it('consider only nodes that have a Node object (MetalLB resolves advertisements against Nodes)', () => {
    const r = run({ services: [svc('web', { etp: 'Local' })], nodes: [node('node-a')], endpointSlices: [slice('web', [ready('node-a'), ready('ghost')])] });
    expect(r.services[0]?.nodes).toEqual(['node-a']);
  });

  it('report a Service every node is excluded for', () => {
    const nodes = [node('node-a', {}, 'True')];
    expect(run({ services: [svc('web')], nodes }).skipped.map((x) => x.reason)).toEqual([SKIP_REASONS.noCandidateNodes]);
    expect(run({ services: [svc('web')], nodes: [] }).skipped.map((x) => x.reason)).toEqual([SKIP_REASONS.noCandidateNodes]);
  });
});

describe('Kubernetes speaker: L2Advertisements', () => {
  const zoned = [node('node-a', { zone: 'a' }), node('node-b', { zone: 'b' }), node('node-c', { zone: 'c' })];

  it('keep only nodes some advertisement of the pool selects (union over advertisements)', () => {
    const cfg = config([
      pool('default', ['10.0.0.0/24']),
      l2('za', { nodeSelectors: [{ matchLabels: { zone: 'a' } }] }),
      l2('zc', { nodeSelectors: [{ matchLabels: { zone: 'c' } }, { matchLabels: { zone: 'nowhere' } }] }),
    ]);
    expect(run({ services: [svc('web')], nodes: zoned, config: cfg }).services[0]?.nodes).toEqual(['node-a', 'node-c']);
  });

  it('count only advertisements whose serviceSelectors match the Service', () => {
    const cfg = config([
      pool('default', ['10.0.0.0/24']),
      l2('red', { serviceSelectors: [{ matchLabels: { team: 'red' } }], nodeSelectors: [{ matchLabels: { zone: 'a' } }] }),
      l2('blue', { serviceSelectors: [{ matchLabels: { team: 'blue' } }], nodeSelectors: [{ matchLabels: { zone: 'b' } }] }),
    ]);
    const r = run({ services: [svc('r', { labels: { team: 'red' } }), svc('b', { labels: { team: 'blue' } }), svc('g', { labels: { team: 'green' } })], nodes: zoned, config: cfg });
    expect(r.services.map((s) => [s.name, s.nodes])).toEqual([
      ['ns/b', ['node-b']],
      ['ns/r', ['node-a']],
    ]);
    expect(r.skipped).toEqual([expect.objectContaining({ service: 'ns/g', reason: SKIP_REASONS.noAdvertisement })]);
  });

  it('announce nothing from a pool without an advertisement', () => {
    const cfg = config([pool('default', ['10.0.0.0/24']), pool('quiet', ['10.0.9.0/24']), l2('some', { ipAddressPools: ['default'] })]);
    const r = run({ services: [svc('q', { ips: ['10.0.9.1'] })], config: cfg });
    expect(r.skipped).toEqual([expect.objectContaining({ service: 'ns/q', reason: SKIP_REASONS.noAdvertisement })]);
    expect(r.skipped[0]?.message).toContain('"quiet"');
  });

  it('do not announce a shared-IP Service when an applicable advertisement has serviceSelectors (MetalLB HEAD)', () => {
    const cfg = config([
      pool('default', ['10.0.0.0/24']),
      l2('all'),
      l2('red', { serviceSelectors: [{ matchLabels: { team: 'red' } }] }),
    ]);
    const services = [
      svc('shared-red', { labels: { team: 'red' }, annotations: { 'metallb.io/allow-shared-ip': 'k' } }),
      svc('legacy-red', { labels: { team: 'red' }, annotations: { 'metallb.universe.tf/allow-shared-ip': '' } }),
      svc('shared-blue', { labels: { team: 'blue' }, annotations: { 'metallb.io/allow-shared-ip': 'k' } }),
      svc('plain-red', { labels: { team: 'red' } }),
    ];
    const r = run({ services, config: cfg });
    expect(r.services.map((s) => s.name)).toEqual(['ns/plain-red', 'ns/shared-blue']);
    expect(r.skipped.map((s) => [s.service, s.reason])).toEqual([
      ['ns/legacy-red', SKIP_REASONS.sharedIPWithServiceSelector],
      ['ns/shared-red', SKIP_REASONS.sharedIPWithServiceSelector],
    ]);
  });

  it('weigh nodes by preferredNodeSelectors, summed over advertisements, only where the advertisement selects the node', () => {
    const cfg = config([
      pool('default', ['10.0.0.0/24']),
      l2('p1', { preferredNodeSelectors: [{ weight: 10, preference: { matchLabels: { zone: 'a' } } }, { weight: 5, preference: { matchExpressions: [{ key: 'zone', operator: 'Exists' }] } }] }),
      l2('p2', { nodeSelectors: [{ matchLabels: { zone: 'b' } }], preferredNodeSelectors: [{ weight: 30, preference: {} }] }),
    ]);
    const r = run({ services: [svc('web')], nodes: zoned, config: cfg });
    expect(r.services[0]?.nodes).toEqual(['node-a', 'node-b', 'node-c']);
    expect(r.services[0]?.weights).toEqual(new Map([['node-a', 15], ['node-b', 35], ['node-c', 5]]));
    expect(run({ services: [svc('web')], nodes: zoned }).services[0]?.weights).toBeUndefined();
  });

  it('announce on the union of the interfaces of the advertisements that select this node, or all when one lists none', () => {
    const cfg = config([
      pool('default', ['10.0.0.0/24']),
      l2('a1', { interfaces: ['eth1'], nodeSelectors: [{ matchLabels: { zone: 'a' } }] }),
      l2('a2', { interfaces: ['eth2', 'eth1'], nodeSelectors: [{ matchLabels: { zone: 'a' } }] }),
      l2('b', { interfaces: ['bond0'], nodeSelectors: [{ matchLabels: { zone: 'b' } }] }),
      l2('c', { nodeSelectors: [{ matchLabels: { zone: 'c' } }] }),
      l2('c2', { interfaces: ['eth9'], nodeSelectors: [{ matchLabels: { zone: 'c' } }] }),
    ]);
    const specOf = (self: string) => run({ services: [svc('web')], nodes: zoned, config: cfg, self }).services[0];
    expect(specOf('node-a')?.interfaces).toEqual(['eth1', 'eth2']);
    expect(specOf('node-a')?.nodeInterfaces).toEqual(new Map([['node-b', ['bond0']], ['node-c', undefined]]));
    expect(specOf('node-b')?.interfaces).toEqual(['bond0']);
    expect(specOf('node-c')?.interfaces).toBeUndefined();
    expect(specOf('node-c')?.nodeInterfaces).toEqual(new Map([['node-a', ['eth1', 'eth2']], ['node-b', ['bond0']]]));
    // One advertisement for everyone: no per-node list.
    const one = config([pool('default', ['10.0.0.0/24']), l2('x', { interfaces: ['eth1'] })]);
    const spec = run({ services: [svc('web')], nodes: zoned, config: one }).services[0];
    expect(spec?.interfaces).toEqual(['eth1']);
    expect(spec?.nodeInterfaces).toBeUndefined();
  });
});

describe('Kubernetes speaker: election on the result', () => {
  it('elect among live candidates with MetalLB hash ranking (spec test vector: 10.0.0.1 -> node-b)', () => {
    const r = run({ services: [svc('web', { ips: ['10.0.0.1'] }), svc('api', { ips: ['10.0.0.2'] })] });
    const live = new Map<string, NodeStatus>(['node-a', 'node-b', 'node-c'].map((n) => [n, { alive: true, draining: false }]));
    const own = computeOwnership('node-b', r.services, live, new Elector(), () => ['eth0']);
    expect(own.owners.get('ns/web')).toBe('node-b');
    expect(own.owners.get('ns/api')).toBe('node-b');
    live.set('node-b', { alive: false, draining: false });
    const after = computeOwnership('node-a', r.services, live, new Elector(), () => ['eth0']);
    expect(after.owners.get('ns/web')).toBe('node-a');
    expect(after.owners.get('ns/api')).toBe('node-c');
  });
});

describe('Kubernetes speaker: properties', () => {
  const nodeNames = ['n1', 'n2', 'n3', 'n4'];
  const arbNode = fc.record({
    name: fc.constantFrom(...nodeNames),
    zone: fc.constantFrom('a', 'b'),
    unavailable: fc.constantFrom(undefined, 'True', 'False'),
    exclude: fc.boolean(),
  });
  const arbSvc = fc.record({
    name: fc.constantFrom('s1', 's2', 's3', 's4', 's5'),
    ns: fc.constantFrom('x', 'y'),
    ips: fc.constantFrom([], ['10.0.0.1'], ['10.0.0.2', 'fc00::2'], ['192.0.2.1'], ['bogus']),
    etp: fc.constantFrom('Cluster', 'Local'),
    team: fc.constantFrom('red', 'blue'),
    shared: fc.boolean(),
    type: fc.constantFrom('LoadBalancer', 'LoadBalancer', 'ClusterIP'),
  });
  const arbSlice = fc.record({
    svc: fc.constantFrom('s1', 's2', 's3', 's4', 's5'),
    ns: fc.constantFrom('x', 'y'),
    node: fc.constantFrom(undefined, ...nodeNames, 'ghost'),
    ready: fc.constantFrom(undefined, true, false),
    serving: fc.constantFrom(undefined, true, false),
  });
  const cfg = config([
    pool('default', ['10.0.0.0/24', 'fc00::/120']),
    l2('za', { nodeSelectors: [{ matchLabels: { zone: 'a' } }], preferredNodeSelectors: [{ weight: 3, preference: { matchLabels: { zone: 'a' } } }] }),
    l2('red', { serviceSelectors: [{ matchLabels: { team: 'red' } }], interfaces: ['eth1'] }),
  ]);
  const build = (ns: Val<typeof arbNode>[], ss: Val<typeof arbSvc>[], es: Val<typeof arbSlice>[]) => ({
    nodes: ns.map((n) => node(n.name, { zone: n.zone, ...(n.exclude ? { 'node.kubernetes.io/exclude-from-external-load-balancers': 'true' } : {}) }, n.unavailable)),
    services: ss.map((s) => svc(s.name, { ns: s.ns, ips: s.ips, etp: s.etp, labels: { team: s.team }, annotations: s.shared ? { 'metallb.io/allow-shared-ip': 'k' } : {}, type: s.type })),
    endpointSlices: es.map((e) => slice(e.svc, [{ ...(e.node !== undefined ? { nodeName: e.node } : {}), conditions: { ...(e.ready !== undefined ? { ready: e.ready } : {}), ...(e.serving !== undefined ? { serving: e.serving } : {}) } }], e.ns)),
  });
  const uniqueNodes = fc.uniqueArray(arbNode, { selector: (n) => n.name, maxLength: 4 });
  const uniqueSvcs = fc.uniqueArray(arbSvc, { selector: (s) => `${s.ns}/${s.name}`, maxLength: 6 });

  it('give the same answer whatever the order of the objects, and the same candidates on every node', () => {
    fc.assert(
      fc.property(uniqueNodes, uniqueSvcs, fc.array(arbSlice, { maxLength: 10 }), fc.integer(), (ns, ss, es, seed) => {
        const objs = build(ns, ss, es);
        const a = kubernetesDesiredState({ self: 'n1', config: cfg, ...objs });
        const shuffled = (xs: readonly unknown[]) => [...xs].sort(() => ((seed = (seed * 1103515245 + 12345) | 0) & 1 ? 1 : -1));
        const b = kubernetesDesiredState({
          self: 'n2',
          config: cfg,
          nodes: shuffled(objs.nodes) as NodeLike[],
          services: shuffled(objs.services) as ServiceLike[],
          endpointSlices: shuffled(objs.endpointSlices) as EndpointSliceLike[],
        });
        const electionView = (r: typeof a) => r.services.map((s) => ({ name: s.name, addresses: s.addresses, nodes: s.nodes, weights: s.weights }));
        expect(electionView(b)).toEqual(electionView(a));
        expect(b.skipped).toEqual(a.skipped);
      }),
      { numRuns: 300 },
    );
  });

  it('give with decisions kept between passes the same answer as without, over any sequence of changes', () => {
    const step = fc.tuple(uniqueNodes, uniqueSvcs, fc.array(arbSlice, { maxLength: 10 }), fc.constantFrom('n1', 'n2'));
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 5 }), (steps) => {
        const memo = new DesiredMemo();
        // As an informer: an object whose content did not change keeps its identity.
        const known = new Map<string, unknown>();
        const keep = <T>(xs: readonly T[]): T[] => {
          return xs.map((x) => {
            const key = JSON.stringify(x);
            const same = (known.get(key) as T | undefined) ?? x;
            known.set(key, same);
            return same;
          });
        };
        for (const [ns, ss, es, self] of steps) {
          const objs = build(ns, ss, es);
          const input = { self, config: cfg, nodes: keep(objs.nodes), services: keep(objs.services), endpointSlices: keep(objs.endpointSlices) };
          expect(kubernetesDesiredState(input, memo)).toEqual(kubernetesDesiredState(input));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('account for every LoadBalancer Service exactly once, with candidates that are eligible Node objects', () => {
    fc.assert(
      fc.property(uniqueNodes, uniqueSvcs, fc.array(arbSlice, { maxLength: 10 }), (ns, ss, es) => {
        const objs = build(ns, ss, es);
        const r = kubernetesDesiredState({ self: 'n1', config: cfg, ...objs });
        const lb = ss.filter((s) => s.type === 'LoadBalancer').map((s) => `${s.ns}/${s.name}`).sort();
        expect([...r.services.map((s) => s.name), ...r.skipped.map((s) => s.service)].sort()).toEqual(lb);
        const eligible = new Set(ns.filter((n) => n.unavailable !== 'True' && !n.exclude).map((n) => n.name));
        for (const s of r.services) {
          expect(s.nodes.length).toBeGreaterThan(0);
          for (const n of s.nodes) expect(eligible.has(n)).toBe(true);
          expect([...s.nodes].sort()).toEqual(s.nodes);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('Kubernetes speaker: decisions kept between passes', () => {
  it('decide again only the Services whose object or EndpointSlices changed, and reuse the rest as they were', () => {
    const memo = new DesiredMemo();
    const services = ['a', 'b', 'c'].map((n, i) => svc(n, { ips: [`10.0.0.${i + 1}`] }));
    const slices = services.map((s) => slice(s.metadata?.name ?? '', [ready('node-a')]));
    const input = { self: 'node-a', config: BASIC, services, endpointSlices: slices, nodes: NODES };
    const first = kubernetesDesiredState(input, memo);
    expect(memo.reused).toBe(0);
    // The informer replaces the object of a changed Service, and of a changed slice.
    const services2 = [services[0]!, svc('b', { ips: ['10.0.0.9'] }), services[2]!];
    const slices2 = [slices[0]!, slices[1]!, slice('c', [ready('node-b')])];
    const second = kubernetesDesiredState({ ...input, services: services2, endpointSlices: slices2 }, memo);
    expect(memo.reused).toBe(1);
    expect(second.services[0]).toBe(first.services[0]);
    expect(second.services[1]?.addresses).toEqual(['10.0.0.9']);
    expect(second).toEqual(kubernetesDesiredState({ ...input, services: services2, endpointSlices: slices2 }));
  });

  it('forget every decision when the config, a node label or this node changes, not when a node only heartbeats', () => {
    const memo = new DesiredMemo();
    const services = [svc('a')];
    const input = { self: 'node-a', config: BASIC, services, endpointSlices: [slice('a', [ready('node-a')])], nodes: NODES };
    kubernetesDesiredState(input, memo);
    const heartbeat = NODES.map((n) => ({ ...n, status: { conditions: [...(n.status?.conditions ?? [])] } }));
    kubernetesDesiredState({ ...input, nodes: heartbeat }, memo);
    expect(memo.reused).toBe(1);
    kubernetesDesiredState({ ...input, nodes: [node('node-a', { zone: 'x' }), NODES[1]!, NODES[2]!] }, memo);
    expect(memo.reused).toBe(0);
    kubernetesDesiredState({ ...input, config: config([pool('default', ['10.0.0.0/24']), l2('all')]) }, memo);
    expect(memo.reused).toBe(0);
    kubernetesDesiredState({ ...input, self: 'node-b' }, memo);
    expect(memo.reused).toBe(0);
  });
});

describe('Kubernetes speaker: input types', () => {
  it('accept @kubernetes/client-node objects as they are', () => {
    const s: V1Service = { metadata: { name: 'web', namespace: 'ns' }, spec: { type: 'LoadBalancer' }, status: { loadBalancer: { ingress: [{ ip: '10.0.0.1' }] } } };
    const e: V1EndpointSlice = { addressType: 'IPv4', endpoints: [{ addresses: ['10.1.0.1'], nodeName: 'node-a' }], metadata: { namespace: 'ns', labels: { 'kubernetes.io/service-name': 'web' } } };
    const n: V1Node = { metadata: { name: 'node-a' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } };
    const input: KubernetesSpeakerInput = { self: 'node-a', config: BASIC, services: [s], endpointSlices: [e], nodes: [n] };
    expect(kubernetesDesiredState(input).services).toEqual([{ name: 'ns/web', addresses: ['10.0.0.1'], nodes: ['node-a'] }]);
  });
});
