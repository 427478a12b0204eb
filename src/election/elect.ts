import { nodeDigest, nodeDigestPrefix, type NodeWeights } from './hash-ranking.js';

/** One Service (or any announced group of IPs) to elect an owner for. */
export interface ElectionItem {
  /** Unique key of the item, usually "namespace/name" of the Service. */
  readonly key: string;
  /** Its IPs; the first one is the hash key, as MetalLB uses ingress[0]. Empty: no owner. */
  readonly ips: readonly string[];
  /**
   * Nodes allowed to announce it (node selectors, traffic policy, exclusions already applied),
   * NOT filtered by liveness: liveness is the separate `live` argument, so that a membership
   * change reuses the cached ranking instead of re-hashing. Share one array between items with
   * the same candidates where you can: it is then validated once per call, not per item.
   */
  readonly candidates: readonly string[];
  /** Optional preferred-node weights: primary sort key, highest first. */
  readonly weights?: NodeWeights;
}

/** key -> owner node, or undefined when no candidate is live. */
export type ElectionResult = Map<string, string | undefined>;

export interface ElectorOptions {
  /** Digest prefix function; for tests that force prefix ties. Default `nodeDigestPrefix`. */
  readonly digestPrefix?: (node: string, ip: string) => number;
}

/** A distinct candidate set (deduplicated), shared by every item and IP that uses it. */
interface CandidateSet {
  readonly nodes: readonly string[];
  generation: number;
}

interface CacheEntry {
  set: CandidateSet;
  /** Weight of each node of `set`, or undefined when the item had no weights. */
  weights: Float64Array | undefined;
  /** Distinct candidates in rank order, with their digest prefixes (kept to re-rank cheaply). */
  ranking: readonly string[];
  prefixes: Float64Array;
  generation: number;
}

/** Up to this many candidates the numeric packed sort is used (prefix * SLOTS + index < 2^53). */
const SLOTS = 1024;

/**
 * Elects owners for a whole desired state. The ranking of an IP depends only on its candidate
 * set (and weights), so it is cached per IP, together with a 40-bit digest prefix per node; a
 * liveness change then costs a walk down each cached ranking to the first live node,
 * O(items x rank position of the winner). A changed candidate set re-hashes only new nodes.
 * Entries for IPs and candidate sets absent from the latest call are evicted.
 *
 * Results are a pure function of (items, live) and equal `electOwner` of hash-ranking.ts for
 * every item (property-tested in elect.test.ts).
 */
export class Elector {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly sets = new Map<string, CandidateSet>();
  private readonly digestPrefix: (node: string, ip: string) => number;
  private generation = 0;

  constructor(options: ElectorOptions = {}) {
    this.digestPrefix = options.digestPrefix ?? nodeDigestPrefix;
  }

  elect(items: readonly ElectionItem[], live: ReadonlySet<string>): ElectionResult {
    const generation = ++this.generation;
    const result: ElectionResult = new Map();
    const setOf = new Map<readonly string[], CandidateSet>();
    for (const item of items) {
      const ip = item.ips[0];
      if (ip === undefined) {
        result.set(item.key, undefined);
        continue;
      }
      let set = setOf.get(item.candidates);
      if (set === undefined) {
        set = this.intern(item.candidates, generation);
        setOf.set(item.candidates, set);
      }
      const ranking = this.rankingFor(ip, set, item.weights, generation);
      let owner: string | undefined;
      for (const node of ranking) {
        if (live.has(node)) {
          owner = node;
          break;
        }
      }
      result.set(item.key, owner);
    }
    for (const [ip, entry] of this.cache) if (entry.generation !== generation) this.cache.delete(ip);
    for (const [key, set] of this.sets) if (set.generation !== generation) this.sets.delete(key);
    return result;
  }

  /** Number of IPs whose ranking is cached (for tests and the benchmark). */
  cachedIps(): number {
    return this.cache.size;
  }

  /** The shared CandidateSet for these nodes, whatever their order and duplicates. */
  private intern(candidates: readonly string[], generation: number): CandidateSet {
    const nodes = [...new Set(candidates)].sort();
    const key = nodes.join('\u0000');
    let set = this.sets.get(key);
    if (set === undefined) {
      set = { nodes, generation };
      this.sets.set(key, set);
    }
    set.generation = generation;
    return set;
  }

  private rankingFor(ip: string, set: CandidateSet, weights: NodeWeights | undefined, generation: number): readonly string[] {
    const entry = this.cache.get(ip);
    const w = weights === undefined ? undefined : Float64Array.from(set.nodes, (n) => weights.get(n) ?? 0);
    if (entry !== undefined && entry.set === set && sameWeights(entry.weights, w)) {
      entry.generation = generation;
      return entry.ranking;
    }
    let known: Map<string, number> | undefined;
    if (entry !== undefined) {
      known = new Map();
      for (let i = 0; i < entry.ranking.length; i++) known.set(entry.ranking[i]!, entry.prefixes[i]!);
    }
    const fresh = this.rank(ip, set, w, known, generation);
    this.cache.set(ip, fresh);
    return fresh.ranking;
  }

  private rank(ip: string, set: CandidateSet, w: Float64Array | undefined, known: Map<string, number> | undefined, generation: number): CacheEntry {
    const nodes = set.nodes;
    const n = nodes.length;
    const pre = new Float64Array(n);
    for (let i = 0; i < n; i++) pre[i] = known?.get(nodes[i]!) ?? this.digestPrefix(nodes[i]!, ip);
    const order: number[] = new Array<number>(n);
    if (w === undefined && n <= SLOTS) {
      // Comparator-free: prefix < 2^40, so prefix * 1024 + index is exact in a float64.
      const packed = new Float64Array(n);
      for (let i = 0; i < n; i++) packed[i] = pre[i]! * SLOTS + i;
      packed.sort();
      for (let i = 0; i < n; i++) order[i] = packed[i]! % SLOTS;
    } else {
      for (let i = 0; i < n; i++) order[i] = i;
      order.sort((a, b) => (w?.[b] ?? 0) - (w?.[a] ?? 0) || pre[a]! - pre[b]!);
    }
    // Equal prefixes (1 in 2^40 per pair): break the tie with the full digest, as MetalLB does.
    for (let i = 1; i < n; i++) {
      if (!tied(pre, w, order[i - 1]!, order[i]!)) continue;
      let j = i;
      while (j + 1 < n && tied(pre, w, order[i - 1]!, order[j + 1]!)) j++;
      const run = order.slice(i - 1, j + 1);
      const full = new Map(run.map((k) => [k, nodeDigest(nodes[k]!, ip)]));
      run.sort((a, b) => (full.get(a)! < full.get(b)! ? -1 : full.get(a)! > full.get(b)! ? 1 : nodes[a]! < nodes[b]! ? -1 : 1));
      order.splice(i - 1, run.length, ...run);
      i = j;
    }
    const ranking = new Array<string>(n);
    const prefixes = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      ranking[i] = nodes[order[i]!]!;
      prefixes[i] = pre[order[i]!]!;
    }
    return {
      set,
      weights: w,
      ranking,
      prefixes,
      generation,
    };
  }
}

function tied(pre: Float64Array, w: Float64Array | undefined, a: number, b: number): boolean {
  return pre[a] === pre[b] && (w?.[a] ?? 0) === (w?.[b] ?? 0);
}

function sameWeights(a: Float64Array | undefined, b: Float64Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One-shot election without a cache (every node computes the same answer from the same inputs). */
export function electAll(items: readonly ElectionItem[], live: ReadonlySet<string>): ElectionResult {
  return new Elector().elect(items, live);
}
