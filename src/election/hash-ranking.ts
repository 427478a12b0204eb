import * as crypto from 'node:crypto';

/**
 * Preferred-node weights (MetalLB HEAD `preferredNodeSelectors`): node name -> weight. Higher
 * weight ranks first; nodes missing from the map weigh 0; the hash only breaks ties.
 */
export type NodeWeights = ReadonlyMap<string, number>;

// 'binary' is Node's name for latin1. crypto.hash (Node >= 20.12) is about 3x faster than createHash for short inputs; the
// fallback keeps older Node 20 releases working.
const sha256Latin1: (data: string) => string =
  typeof crypto.hash === 'function'
    ? (data) => crypto.hash('sha256', data, 'binary')
    : (data) => crypto.createHash('sha256').update(data).digest('binary');

/**
 * sha256(nodeName + "#" + ip) as a 32-character latin1 string. Each character holds one byte,
 * so plain string comparison (`<`) is the bytewise comparison MetalLB does with bytes.Compare
 * (speaker/layer2_controller.go).
 */
export function nodeDigest(node: string, ip: string): string {
  return sha256Latin1(`${node}#${ip}`);
}

/**
 * The first 5 bytes of nodeDigest as a number (< 2^40): orders like the full digest except on
 * a prefix tie, which callers must break with `nodeDigest`. Small enough to pack with an index
 * into one exactly representable float for a comparator-free numeric sort.
 */
export function nodeDigestPrefix(node: string, ip: string): number {
  // From the latin1 string digest: a Buffer digest costs an allocation and is several times slower.
  const d = sha256Latin1(`${node}#${ip}`);
  return d.charCodeAt(0) * 2 ** 32 + d.charCodeAt(1) * 2 ** 24 + d.charCodeAt(2) * 2 ** 16 + d.charCodeAt(3) * 2 ** 8 + d.charCodeAt(4);
}

/** One ranked candidate: its name, digest and weight, compared by `compareRanked`. */
export interface RankedNode {
  readonly node: string;
  readonly digest: string;
  readonly weight: number;
}

/** Weight descending, then digest ascending (bytewise), then name, so the order is total. */
export function compareRanked(a: RankedNode, b: RankedNode): number {
  if (a.weight !== b.weight) return b.weight - a.weight;
  if (a.digest !== b.digest) return a.digest < b.digest ? -1 : 1;
  if (a.node === b.node) return 0;
  return a.node < b.node ? -1 : 1;
}

/**
 * MetalLB's ranking of `nodes` for `ip` (the Service's first ingress IP, as a string):
 * ascending bytewise sha256(node + "#" + ip); with `weights`, higher weight first and the hash
 * breaks ties. Duplicate names are kept once. The result does not depend on the input order.
 */
export function rankNodes(ip: string, nodes: readonly string[], weights?: NodeWeights): string[] {
  const seen = new Set<string>();
  const ranked: RankedNode[] = [];
  for (const node of nodes) {
    if (seen.has(node)) continue;
    seen.add(node);
    ranked.push({ node, digest: nodeDigest(node, ip), weight: weights?.get(node) ?? 0 });
  }
  ranked.sort(compareRanked);
  return ranked.map((r) => r.node);
}

/** The node that announces `ip`: the first candidate in `rankNodes` order that is live. */
export function electOwner(
  ip: string,
  candidates: readonly string[],
  live: ReadonlySet<string>,
  weights?: NodeWeights,
): string | undefined {
  return rankNodes(ip, candidates, weights).find((n) => live.has(n));
}
