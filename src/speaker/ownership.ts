import { electAll, type Elector, type ElectionItem } from '../election/elect.js';
import type { NodeWeights } from '../election/hash-ranking.js';

/** One service to announce: its VIPs and the nodes allowed to announce them. */
export interface ServiceSpec {
  readonly name: string;
  /** VIPs; the first is the election hash key (MetalLB's ingress[0]). */
  readonly addresses: readonly string[];
  /** Candidate nodes, in any order. */
  readonly nodes: readonly string[];
  /** Interfaces to announce on; undefined: the node's default set. */
  readonly interfaces?: readonly string[] | undefined;
  /**
   * Preferred-node weights (MetalLB's `preferredNodeSelectors`): the primary election key,
   * highest first; the hash breaks ties. Undefined: hash only.
   */
  readonly weights?: NodeWeights | undefined;
  /**
   * Interfaces of candidates whose set differs from `interfaces` (Kubernetes: advertisements
   * with different `interfaces` selecting different nodes). A node listed here is judged by
   * its own entry (undefined: its default set) when deciding whether it can carry the service,
   * so every node judges every candidate alike. Nodes not listed use `interfaces`.
   */
  readonly nodeInterfaces?: ReadonlyMap<string, readonly string[] | undefined> | undefined;
  /**
   * The service's virtual MAC (canonical `02:..` text, src/announcer/virtual-mac.ts): its VIPs
   * are answered and announced with it, and only the owner accepts it. Undefined: none.
   */
  readonly virtualMac?: string | undefined;
}

/** What the cluster knows about one node (from membership). */
export interface NodeStatus {
  /** Alive or suspect in the failure detector. */
  readonly alive: boolean;
  /** Shutting down gracefully: hand its VIPs over now. */
  readonly draining: boolean;
  /**
   * Back from dead (or just started) and not yet alive for the hold-down period: it takes no
   * VIP that another node can carry (flap damping).
   */
  readonly settling?: boolean | undefined;
  /** What the node said about its links; undefined: not yet known (assumed able). */
  readonly links?: LinkSummary | undefined;
}

/**
 * A node's links, as it publishes them in its membership metadata: compact, because metadata is
 * small (hosts with dozens of bridges must still fit).
 */
export interface LinkSummary {
  /** Some of its default announce interfaces has carrier. */
  readonly anyUp: boolean;
  /** Its announce interfaces (default or named by a service) without carrier. */
  readonly down: readonly string[];
}

/**
 * Whether a node can carry a service on the link: some interface the service names has a
 * carrier there, or, for a service naming none, some of the node's default interfaces has. A
 * node that has not said is assumed able, so a metadata message lost at start does not leave a
 * VIP unannounced.
 */
export function canCarry(status: NodeStatus, interfaces: readonly string[] | undefined): boolean {
  const l = status.links;
  if (l === undefined) return true;
  if (interfaces === undefined || interfaces.length === 0) return l.anyUp;
  return interfaces.some((n) => !l.down.includes(n));
}

/**
 * Candidate lists by content (the names in the order given), shared by
 * every service whose candidates are equal: the elector validates one shared array once per
 * election instead of once per service (10 000 services, a reconcile per membership event).
 * Keyed by the service's own `nodes` array, so each array is looked up by content once.
 */
const sharedCandidates = new WeakMap<readonly string[], readonly string[]>();
const candidatesByContent = new Map<string, WeakRef<readonly string[]>>();

function shared(nodes: readonly string[]): readonly string[] {
  const known = sharedCandidates.get(nodes);
  if (known !== undefined) return known;
  const key = nodes.join('\n');
  let list = candidatesByContent.get(key)?.deref();
  if (list === undefined) {
    list = nodes;
    candidatesByContent.set(key, new WeakRef(list));
    // Forget keys of lists no longer used (an old desired state's), now and then.
    if (candidatesByContent.size > 1024) for (const [k, r] of candidatesByContent) if (r.deref() === undefined) candidatesByContent.delete(k);
  }
  sharedCandidates.set(nodes, list);
  return list;
}

/** The election input of each service: candidates that are allowed and can carry it. */
export function electionItems(services: readonly ServiceSpec[], nodes: ReadonlyMap<string, NodeStatus>): ElectionItem[] {
  return services.map((s) => {
    const per = s.nodeInterfaces;
    const able = (n: string): boolean => {
      const st = nodes.get(n);
      return st === undefined || canCarry(st, per !== undefined && per.has(n) ? per.get(n) : s.interfaces);
    };
    // Usually every candidate can: the service's own list, shared with services of equal lists.
    const candidates = s.nodes.every(able) ? shared(s.nodes) : s.nodes.filter(able);
    return s.weights === undefined ? { key: s.name, ips: s.addresses, candidates } : { key: s.name, ips: s.addresses, candidates, weights: s.weights };
  });
}

/** The nodes that may win now: alive, not draining and, unless `settlingToo`, not settling. */
export function liveSet(nodes: ReadonlyMap<string, NodeStatus>, settlingToo = false): Set<string> {
  const live = new Set<string>();
  for (const [name, st] of nodes) if (st.alive && !st.draining && (settlingToo || st.settling !== true)) live.add(name);
  return live;
}

export interface Ownership {
  /** Owner of every service (undefined: nobody can announce it). */
  readonly owners: ReadonlyMap<string, string | undefined>;
  /** What this node announces: IP -> interfaces. */
  readonly owned: Map<string, Set<string>>;
}

/**
 * The pure decision: who announces each service, and what this node announces where.
 * Every node computes it from the same inputs and gets the same owners.
 */
export function computeOwnership(
  self: string,
  services: readonly ServiceSpec[],
  nodes: ReadonlyMap<string, NodeStatus>,
  elector: Elector,
  localInterfaces: (svc: ServiceSpec) => readonly string[],
  previous?: Ownership & { readonly services: readonly ServiceSpec[] },
): Ownership {
  const items = electionItems(services, nodes);
  const owners = elector.elect(items, liveSet(nodes));
  // A settling node is held back only where another can carry the service: a cluster that
  // starts all at once (every node settling) still elects at once.
  const orphans = items.filter((i) => owners.get(i.key) === undefined);
  if (orphans.length > 0 && [...nodes.values()].some((n) => n.settling === true)) {
    for (const [key, owner] of electAll(orphans, liveSet(nodes, true))) owners.set(key, owner);
  }
  // Incremental: with the same services and the same (service, interfaces) carried here as last
  // time, the owned set is the previous one, object and all, not rebuilt IP by IP.
  const mine: [ServiceSpec, readonly string[]][] = [];
  for (const s of services) {
    if (owners.get(s.name) !== self) continue;
    const ifaces = localInterfaces(s);
    if (ifaces.length > 0) mine.push([s, ifaces]);
  }
  const prevOwners = previous?.owners;
  const same =
    previous !== undefined &&
    prevOwners !== undefined &&
    previous.services === services &&
    mine.every(([s]) => prevOwners.get(s.name) === self) &&
    countOwnedBy(prevOwners, self) === mine.length &&
    mine.every(([s, ifaces]) => sameInterfaces(previous.owned.get(s.addresses[0] ?? ''), ifaces));
  if (same) return { owners: sameOwners(prevOwners, owners) ? prevOwners : owners, owned: previous.owned };
  const owned = new Map<string, Set<string>>();
  for (const [s, ifaces] of mine) {
    // One set per service, shared by its IPs; an IP of several services gets its own union.
    const shared = new Set(ifaces);
    for (const ip of s.addresses) {
      const had = owned.get(ip);
      if (had === undefined) owned.set(ip, shared);
      else if (had !== shared) owned.set(ip, new Set([...had, ...ifaces]));
    }
  }
  return { owners, owned };
}

function countOwnedBy(owners: ReadonlyMap<string, string | undefined>, self: string): number {
  let n = 0;
  for (const o of owners.values()) if (o === self) n++;
  return n;
}

function sameInterfaces(had: ReadonlySet<string> | undefined, ifaces: readonly string[]): boolean {
  return had !== undefined && had.size === ifaces.length && ifaces.every((i) => had.has(i));
}

function sameOwners(a: ReadonlyMap<string, string | undefined>, b: ReadonlyMap<string, string | undefined>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of b) if (a.get(k) !== v) return false;
  return true;
}

/** The interfaces of an owned set, each once (one pass, no per-IP copies). */
export function ownedInterfaces(owned: OwnedSetLike): Set<string> {
  const out = new Set<string>();
  const seen = new Set<ReadonlySet<string>>();
  for (const ifaces of owned.values()) {
    if (seen.has(ifaces)) continue;
    seen.add(ifaces);
    for (const i of ifaces) out.add(i);
  }
  return out;
}

type OwnedSetLike = ReadonlyMap<string, ReadonlySet<string>>;
