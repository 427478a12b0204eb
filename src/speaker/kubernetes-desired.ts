/**
 * Kubernetes speaker: who may announce each Service. A pure function from the objects the
 * speaker watches to the speaker core's desired state; MetalLB's rules (speaker/main.go
 * `SetBalancer`, speaker/layer2_controller.go `ShouldAnnounce`, internal/k8s/nodes,
 * internal/k8s/epslices `EndpointCanServe`, internal/config `l2AdvertisementFromCR`).
 *
 * Input (`KubernetesSpeakerInput`): plain objects. The `*Like` types below are the minimal
 * structure read; @kubernetes/client-node's V1Service, V1EndpointSlice and V1Node satisfy them
 * (checked by a type test), so informer caches can be passed as they are.
 *   - `self`: this node's name (`spec.nodeName` of the speaker pod).
 *   - `config`: the parsed, validated MetalLB Config (pools and L2Advertisements).
 *   - `services`, `endpointSlices` (all namespaces; a slice belongs to the Service named by its
 *     `kubernetes.io/service-name` label in its namespace), `nodes` (all Node objects).
 *   - `options`: `--lb-class` and `--ignore-exclude-lb`.
 *
 * Output (`KubernetesDesired`):
 *   - `services`: one ServiceSpec per Service some node may announce, sorted by name:
 *     `name` "namespace/name"; `addresses` the ingress IPs in status order (ingress[0], the
 *     election hash key, first), Go's canonical text; `nodes` the candidate nodes (NOT filtered by
 *     liveness: the core elects among the live ones with MetalLB's hash, so our membership, not
 *     the API server, says who is live); `interfaces` this node's interfaces for it (undefined:
 *     all eligible); `weights` when `preferredNodeSelectors` apply; `nodeInterfaces` when
 *     candidates announce on different interfaces. This node may well not be a candidate.
 *   - `skipped`: Services of ours that nobody may announce, with an enumerated reason, for logs
 *     and events. Services not of type LoadBalancer, or of another load balancer class, are not
 *     ours and appear in neither list.
 *
 * Every node computes the same `services` (except `interfaces`, which is this node's) from the
 * same objects, so the election agrees everywhere. Where l2vip deliberately differs from
 * MetalLB, the difference is made in the core (carrier-aware candidates, liveness from our own
 * membership) and listed in docs/speaker.md.
 */
import type { Config, L2Advertisement, Pool } from '../config/types.js';
import { matchesAnySelector, matchesSelector, type Labels } from '../config/label-selector.js';
import { poolForIps } from '../config/queries.js';
import type { NodeWeights } from '../election/hash-ranking.js';
import { resolveVirtualMac, virtualMacCollisions, virtualMacProblem } from '../announcer/virtual-mac.js';
import { formatIp, parseIp, type Ip } from '../ip/address.js';
import type { ServiceSpec } from './ownership.js';

export interface ObjectMetaLike {
  readonly name?: string;
  readonly namespace?: string;
  readonly labels?: Labels;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ServiceLike {
  readonly metadata?: ObjectMetaLike;
  readonly spec?: {
    readonly type?: string;
    readonly loadBalancerClass?: string;
    readonly externalTrafficPolicy?: string;
  };
  readonly status?: { readonly loadBalancer?: { readonly ingress?: readonly { readonly ip?: string }[] } };
}

export interface EndpointLike {
  readonly nodeName?: string;
  readonly conditions?: { readonly ready?: boolean; readonly serving?: boolean };
}

export interface EndpointSliceLike {
  readonly metadata?: ObjectMetaLike;
  readonly endpoints?: readonly EndpointLike[];
}

export interface NodeLike {
  readonly metadata?: ObjectMetaLike;
  readonly status?: { readonly conditions?: readonly { readonly type: string; readonly status: string }[] };
}

export interface KubernetesSpeakerOptions {
  /** `--lb-class`: handle only Services with this spec.loadBalancerClass; unset or "": only Services without one. */
  readonly loadBalancerClass?: string | undefined;
  /** `--ignore-exclude-lb`: nodes labelled exclude-from-external-load-balancers stay candidates. */
  readonly ignoreExcludeLb?: boolean | undefined;
  /** `--virtual-mac`: Services without the VIRTUAL_MAC_ANNOTATION get a derived virtual MAC. */
  readonly virtualMac?: boolean | undefined;
}

export interface KubernetesSpeakerInput {
  readonly self: string;
  readonly config: Config;
  readonly services: readonly ServiceLike[];
  readonly endpointSlices: readonly EndpointSliceLike[];
  readonly nodes: readonly NodeLike[];
  readonly options?: KubernetesSpeakerOptions | undefined;
}

/** Why nobody announces a Service of ours (MetalLB's withdraw reasons where it has one). */
export const SKIP_REASONS = Object.freeze({
  /** No IP in status.loadBalancer.ingress yet (MetalLB "noIPAllocated"). */
  noIPAllocated: 'noIPAllocated',
  /** An ingress entry without a valid IP (MetalLB "invalidIP"). */
  invalidIP: 'invalidIP',
  /** The IPs are not all in one pool of the config (MetalLB "ipNotAllowed"). */
  ipNotAllowed: 'ipNotAllowed',
  /** No endpoint anywhere can serve, whatever the traffic policy (MetalLB "notOwner"). */
  noServingEndpoints: 'noServingEndpoints',
  /** allow-shared-ip with an applicable advertisement that has serviceSelectors (MetalLB HEAD). */
  sharedIPWithServiceSelector: 'sharedIPWithServiceSelector',
  /** No L2Advertisement announces the pool and matches the Service's labels (MetalLB "noMatchingAdvertisement"). */
  noAdvertisement: 'noAdvertisement',
  /** Every node is excluded: NetworkUnavailable, exclude label, or no advertisement selects it. */
  noCandidateNodes: 'noCandidateNodes',
  /** externalTrafficPolicy Local and no candidate node has a serving endpoint. */
  noLocalEndpoints: 'noLocalEndpoints',
} as const);

export type SkipReason = (typeof SKIP_REASONS)[keyof typeof SKIP_REASONS];

export interface SkippedService {
  /** "namespace/name". */
  readonly service: string;
  readonly reason: SkipReason;
  /** The ingress IPs as written (empty for noIPAllocated). */
  readonly ips: readonly string[];
  /** Human-readable detail for a log line or an Event. */
  readonly message: string;
}

export interface KubernetesDesired {
  readonly services: readonly ServiceSpec[];
  readonly skipped: readonly SkippedService[];
  /**
   * Services announced without the virtual MAC asked for: a bad MAC in the annotation, or one
   * another Service uses on a shared interface (the first by name keeps it). For a log line.
   */
  readonly virtualMacIssues?: readonly { readonly service: string; readonly message: string }[];
}

/**
 * Service annotation: "true" derives a virtual MAC from "namespace/name", "false" turns it off
 * (whatever --virtual-mac says), a MAC sets it (locally administered unicast). docs/virtual-mac.md.
 */
export const VIRTUAL_MAC_ANNOTATION = 'l2vip.io/virtual-mac';

/** corev1.LabelNodeExcludeBalancers: presence is enough, any value. */
export const EXCLUDE_LB_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';
/** discovery/v1 LabelServiceName. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const ALLOW_SHARED_IP_ANNOTATIONS: readonly string[] = ['metallb.io/allow-shared-ip', 'metallb.universe.tf/allow-shared-ip'];

/** internal/k8s/epslices EndpointCanServe: ready unset or true, or serving true (terminating but serving). */
export function endpointCanServe(ep: EndpointLike): boolean {
  const c = ep.conditions;
  return c?.ready === undefined || c.ready || c.serving === true;
}

/** internal/k8s/controllers filterByLoadBalancerClass, inverted: true when the Service is ours. */
export function isOurClass(service: ServiceLike, loadBalancerClass: string | undefined): boolean {
  const cls = service.spec?.loadBalancerClass;
  const want = loadBalancerClass ?? '';
  return cls === undefined ? want === '' : cls === want;
}

/** Nodes MetalLB never lets announce: NetworkUnavailable=True, or the exclude label (unless ignored). */
export function nodeExcludedReason(node: NodeLike, ignoreExcludeLb: boolean): 'networkUnavailable' | 'excludeLabel' | undefined {
  if (node.status?.conditions?.some((c) => c.type === 'NetworkUnavailable' && c.status === 'True')) return 'networkUnavailable';
  const labels = node.metadata?.labels;
  if (!ignoreExcludeLb && labels !== undefined && Object.prototype.hasOwnProperty.call(labels, EXCLUDE_LB_LABEL)) return 'excludeLabel';
  return undefined;
}

/** Per-advertisement facts resolved against the Node objects once per call (MetalLB does it at config parse). */
interface ResolvedAd {
  readonly ad: L2Advertisement;
  /** Nodes its nodeSelectors select (every node when it has none). */
  readonly nodes: ReadonlySet<string>;
  /** preferredNodeScores: summed weights of the matching preferred selectors, for selected nodes scoring > 0. */
  readonly scores: ReadonlyMap<string, number>;
}

/** What a set of applicable advertisements yields, shared by every Service with the same set. */
interface AdSetFacts {
  /** Sorted candidate nodes (eligible and selected by some ad), one shared array. */
  readonly candidates: readonly string[];
  readonly weights: NodeWeights | undefined;
  /** This node's interfaces (undefined: all). */
  readonly interfaces: readonly string[] | undefined;
  readonly nodeInterfaces: ReadonlyMap<string, readonly string[] | undefined> | undefined;
  readonly hasServiceSelectors: boolean;
}

/**
 * Decisions of the last call, so that the next one decides again only the Services whose
 * objects changed. An informer replaces an object on every change, so "same object, same
 * EndpointSlice objects" means "same decision", as long as the context (config, the nodes'
 * names, labels and exclusions, this node, the options) is the same; any change there
 * forgets everything. Keep one per caller and pass it to every call.
 */
export class DesiredMemo {
  private context: { config: Config; key: string } | undefined;
  private decisions = new Map<string, MemoEntry>();
  private reusedCount = 0;

  /** Decisions the last call reused instead of deciding again (for tests and logs). */
  get reused(): number {
    return this.reusedCount;
  }

  /** Starts a call in `config` and context `key`: the last call's decisions if both are the same. */
  begin(config: Config, key: string): { previous: ReadonlyMap<string, MemoEntry> | undefined; next: Map<string, MemoEntry> } {
    const same = this.context !== undefined && this.context.config === config && this.context.key === key;
    const previous = same ? this.decisions : undefined;
    this.context = { config, key };
    this.decisions = new Map();
    this.reusedCount = 0;
    return { previous, next: this.decisions };
  }

  countReused(): void {
    this.reusedCount++;
  }
}

interface MemoEntry {
  readonly svc: ServiceLike;
  readonly slices: readonly EndpointSliceLike[];
  readonly result: ServiceSpec | SkippedService;
}

const NO_SLICES: readonly EndpointSliceLike[] = [];

function sameRefs<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The speaker core's desired state from the cluster's objects; see the file header. With a
 * `memo`, Services whose objects did not change since the last call keep their decision (the
 * same ServiceSpec object), so a stream of creations costs work per change, not per Service.
 */
export function kubernetesDesiredState(input: KubernetesSpeakerInput, memo?: DesiredMemo): KubernetesDesired {
  const { config, self } = input;
  const opts = input.options ?? {};
  const ignoreExclude = opts.ignoreExcludeLb ?? false;

  const nodeLabels = new Map<string, Labels>();
  const eligible = new Set<string>();
  const nodeFacts: [string, Labels, boolean][] = [];
  for (const n of input.nodes) {
    const name = n.metadata?.name;
    if (name === undefined || name === '') continue;
    const labels = n.metadata?.labels ?? {};
    nodeLabels.set(name, labels);
    const ok = nodeExcludedReason(n, ignoreExclude) === undefined;
    if (ok) eligible.add(name);
    nodeFacts.push([name, labels, ok]);
  }
  // Node status changes (heartbeats) are not part of the context: only what the rules read.
  nodeFacts.sort((a, b) => cmp(a[0], b[0]));
  const { previous, next } = memo?.begin(config, JSON.stringify([self, opts.loadBalancerClass ?? '', nodeFacts])) ?? { previous: undefined, next: undefined };

  const resolved = new Map<string, ResolvedAd>();
  const resolve = (ad: L2Advertisement): ResolvedAd => {
    let r = resolved.get(ad.name);
    if (r === undefined) {
      const nodes = new Set<string>();
      const scores = new Map<string, number>();
      for (const [name, labels] of nodeLabels) {
        if (ad.nodeSelectors.length > 0 && !matchesAnySelector(labels, ad.nodeSelectors)) continue;
        nodes.add(name);
        let total = 0;
        for (const p of ad.preferredNodeSelectors) if (matchesSelector(labels, p.preference)) total += p.weight;
        if (total > 0) scores.set(name, total);
      }
      r = { ad, nodes, scores };
      resolved.set(ad.name, r);
    }
    return r;
  };

  const adsByPool = new Map<string, L2Advertisement[]>();
  for (const ad of config.l2Advertisements) {
    for (const p of ad.pools) {
      const list = adsByPool.get(p) ?? [];
      list.push(ad);
      adsByPool.set(p, list);
    }
  }

  const adSets = new Map<string, AdSetFacts>();
  const factsFor = (ads: readonly L2Advertisement[]): AdSetFacts => {
    const key = ads.map((a) => a.name).join('\u0000');
    let f = adSets.get(key);
    if (f === undefined) {
      f = adSetFacts(ads.map(resolve), eligible, self);
      adSets.set(key, f);
    }
    return f;
  };

  const slicesByService = new Map<string, EndpointSliceLike[]>();
  for (const s of input.endpointSlices) {
    const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (svc === undefined) continue;
    const key = `${s.metadata?.namespace ?? ''}/${svc}`;
    const list = slicesByService.get(key) ?? [];
    list.push(s);
    slicesByService.set(key, list);
  }

  const services: ServiceSpec[] = [];
  const skipped: SkippedService[] = [];
  const seen = new Set<string>();
  for (const svc of input.services) {
    if (svc.spec?.type !== 'LoadBalancer' || !isOurClass(svc, opts.loadBalancerClass)) continue;
    const name = `${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`;
    if (seen.has(name)) continue;
    seen.add(name);
    const slices = slicesByService.get(name) ?? NO_SLICES;
    const before = previous?.get(name);
    let d: ServiceSpec | SkippedService;
    if (before !== undefined && before.svc === svc && sameRefs(before.slices, slices)) {
      d = before.result;
      memo?.countReused();
    } else {
      d = decide(svc, name, config, slices, adsByPool, factsFor);
    }
    next?.set(name, { svc, slices, result: d });
    if ('reason' in d) skipped.push(d);
    else services.push(d);
  }
  services.sort((a, b) => cmp(a.name, b.name));
  skipped.sort((a, b) => cmp(a.service, b.service));
  const issues = withVirtualMacs(services, input.services, opts.virtualMac ?? false);
  return issues.length > 0 ? { services, skipped, virtualMacIssues: issues } : { services, skipped };
}

/**
 * Sets `virtualMac` on the services whose annotation (or the default) asks for one, in place,
 * in name order; a bad MAC or a collision on a shared interface leaves the service without one
 * and is reported instead. Every node computes the same (same objects, same order), except
 * for interfaces, which only narrow what collides on this node.
 */
function withVirtualMacs(services: ServiceSpec[], objects: readonly ServiceLike[], byDefault: boolean): { service: string; message: string }[] {
  const annotation = new Map<string, string | undefined>();
  for (const o of objects) annotation.set(`${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`, o.metadata?.annotations?.[VIRTUAL_MAC_ANNOTATION]);
  const issues: { service: string; message: string }[] = [];
  for (const [i, s] of services.entries()) {
    const text = annotation.get(s.name)?.trim();
    let setting: boolean | string = byDefault;
    if (text === 'true') setting = true;
    else if (text === 'false') setting = false;
    else if (text !== undefined && text !== '') {
      const problem = virtualMacProblem(text);
      if (problem !== undefined) {
        issues.push({ service: s.name, message: `annotation ${VIRTUAL_MAC_ANNOTATION}: ${problem}; announced with the interface MAC` });
        continue;
      }
      setting = text;
    }
    const mac = resolveVirtualMac(setting, s.name);
    if (mac !== undefined) services[i] = { ...s, virtualMac: mac };
  }
  const uses = services.flatMap((s) => (s.virtualMac === undefined ? [] : [{ service: s.name, mac: s.virtualMac, interfaces: s.interfaces }]));
  for (const c of virtualMacCollisions(uses)) {
    const i = services.findIndex((s) => s.name === c.refused);
    const { virtualMac: _dropped, ...rest } = services[i]!;
    services[i] = rest;
    issues.push({ service: c.refused, message: `virtual MAC ${c.mac} is already used by ${c.kept}; announced with the interface MAC` });
  }
  return issues;
}

function decide(
  svc: ServiceLike,
  name: string,
  config: Config,
  slices: readonly EndpointSliceLike[],
  adsByPool: ReadonlyMap<string, readonly L2Advertisement[]>,
  factsFor: (ads: readonly L2Advertisement[]) => AdSetFacts,
): ServiceSpec | SkippedService {
  const ingress = svc.status?.loadBalancer?.ingress ?? [];
  const written = ingress.map((i) => i.ip ?? '');
  const skip = (reason: SkipReason, message: string): SkippedService => ({ service: name, reason, ips: written, message });
  if (ingress.length === 0) return skip(SKIP_REASONS.noIPAllocated, 'no IP in status.loadBalancer.ingress');
  const addresses: string[] = [];
  const parsed: Ip[] = [];
  for (const text of written) {
    const ip = parseIp(text);
    if (ip === undefined) return skip(SKIP_REASONS.invalidIP, `invalid LoadBalancer IP ${JSON.stringify(text)} in status.loadBalancer.ingress`);
    const canonical = formatIp(ip);
    if (addresses.includes(canonical)) continue;
    addresses.push(canonical);
    parsed.push(ip);
  }
  const pool: Pool | undefined = poolForIps(config, parsed);
  if (pool === undefined) {
    return skip(SKIP_REASONS.ipNotAllowed, `IP ${addresses.join(', ')} is not in any IPAddressPool of the configuration (all of a Service's IPs must be in one pool)`);
  }

  const endpoints = slices.flatMap((s) => s.endpoints ?? []).filter(endpointCanServe);
  if (endpoints.length === 0) return skip(SKIP_REASONS.noServingEndpoints, 'no endpoint can serve (none ready or serving)');

  const labels = svc.metadata?.labels ?? {};
  const ads = (adsByPool.get(pool.name) ?? []).filter((a) => a.serviceSelectors.length === 0 || matchesAnySelector(labels, a.serviceSelectors));
  const annotations = svc.metadata?.annotations ?? {};
  const shared = ALLOW_SHARED_IP_ANNOTATIONS.some((k) => Object.prototype.hasOwnProperty.call(annotations, k));
  const facts = ads.length > 0 ? factsFor(ads) : undefined;
  if (shared && facts?.hasServiceSelectors === true) {
    return skip(
      SKIP_REASONS.sharedIPWithServiceSelector,
      'allow-shared-ip is incompatible with serviceSelectors on the L2Advertisements that apply to this Service',
    );
  }
  if (facts === undefined) return skip(SKIP_REASONS.noAdvertisement, `no L2Advertisement announces pool ${JSON.stringify(pool.name)} for this Service`);
  if (facts.candidates.length === 0) {
    return skip(SKIP_REASONS.noCandidateNodes, 'no node may announce it (NetworkUnavailable, excluded from load balancers, or not selected by an L2Advertisement)');
  }

  let nodes = facts.candidates;
  if (svc.spec?.externalTrafficPolicy === 'Local') {
    // nodesWithEndpoint: endpoints without nodeName are ignored.
    const local = new Set<string>();
    for (const ep of endpoints) if (ep.nodeName !== undefined) local.add(ep.nodeName);
    nodes = facts.candidates.filter((n) => local.has(n));
    if (nodes.length === 0) return skip(SKIP_REASONS.noLocalEndpoints, 'externalTrafficPolicy is Local and no node that may announce it has a serving endpoint');
  }

  return {
    name,
    addresses,
    nodes,
    ...(facts.interfaces !== undefined ? { interfaces: facts.interfaces } : {}),
    ...(facts.weights !== undefined ? { weights: facts.weights } : {}),
    ...(facts.nodeInterfaces !== undefined ? { nodeInterfaces: facts.nodeInterfaces } : {}),
  };
}

function adSetFacts(ads: readonly ResolvedAd[], eligible: ReadonlySet<string>, self: string): AdSetFacts {
  const candidates = [...eligible].filter((n) => ads.some((a) => a.nodes.has(n))).sort(cmp);
  // speaker/layer2_controller.go preferredScoresFor: summed over every applicable ad.
  const weights = new Map<string, number>();
  for (const a of ads) for (const [n, w] of a.scores) if (eligible.has(n)) weights.set(n, (weights.get(n) ?? 0) + w);
  const interfaces = interfacesOf(ads, self);
  let nodeInterfaces: Map<string, readonly string[] | undefined> | undefined;
  for (const n of candidates) {
    const own = n === self ? interfaces : interfacesOf(ads, n);
    if (sameList(own, interfaces)) continue;
    nodeInterfaces ??= new Map();
    nodeInterfaces.set(n, own);
  }
  return {
    candidates,
    weights: weights.size > 0 ? weights : undefined,
    interfaces,
    nodeInterfaces,
    hasServiceSelectors: ads.some((a) => a.ad.serviceSelectors.length > 0),
  };
}

/**
 * speaker/layer2_controller.go ipAdvertisementFor over l2AdsForNode: the union of the
 * `interfaces` of the ads that select `node`, sorted; undefined (all eligible interfaces) when
 * one of them lists none, or when none selects the node.
 */
function interfacesOf(ads: readonly ResolvedAd[], node: string): readonly string[] | undefined {
  const union = new Set<string>();
  let any = false;
  for (const a of ads) {
    if (!a.nodes.has(node)) continue;
    any = true;
    if (a.ad.interfaces.length === 0) return undefined;
    for (const i of a.ad.interfaces) union.add(i);
  }
  return any ? [...union].sort(cmp) : undefined;
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
