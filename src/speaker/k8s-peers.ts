/**
 * Kubernetes speaker: the membership peers, from the speaker pods. A peer is a pod in
 * `--namespace` matching `--peer-selector`, scheduled (`spec.nodeName`, the peer's name, which
 * is also the node name the election uses) and with a `status.podIP`; the speaker runs with
 * hostNetwork, so that is the node's address, and every speaker listens on the same `--bind`
 * port. Pure: pods in, PeerConfig list out (sorted by name).
 */
import { matchesSelector, type LabelSelector, type Labels } from '../config/label-selector.js';
import { parseIp, formatIp } from '../ip/address.js';
import type { PeerConfig } from '../membership/membership.js';

/** The part of a V1Pod read here (@kubernetes/client-node's V1Pod satisfies it). */
export interface PodLike {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly labels?: Labels;
    /** Set once deletion was requested: the pod is going away. */
    readonly deletionTimestamp?: unknown;
  };
  readonly spec?: { readonly nodeName?: string };
  readonly status?: { readonly podIP?: string; readonly phase?: string };
}

export interface PeerSelection {
  /** `--namespace`. */
  readonly namespace: string;
  /** `--peer-selector`, parsed. */
  readonly selector: LabelSelector;
  /** The `--bind` port, the same on every node. */
  readonly port: number;
}

/** "ip:port", or "[ipv6]:port", with the IP in canonical text; undefined if `ip` is not an IP. */
export function peerAddress(ip: string, port: number): string | undefined {
  const parsed = parseIp(ip);
  if (parsed === undefined) return undefined;
  const text = formatIp(parsed);
  return parsed.family === 6 ? `[${text}]:${port}` : `${text}:${port}`;
}

/**
 * The peers for membership. Pods that have finished (phase Succeeded or Failed) are not peers.
 * Two pods on one node (a rolling update): the one not being deleted wins, then a Running one,
 * then the greater pod name, so every node picks the same.
 */
export function peersFromPods(pods: readonly PodLike[], sel: PeerSelection): PeerConfig[] {
  const best = new Map<string, { pod: PodLike; address: string }>();
  for (const pod of pods) {
    const m = pod.metadata;
    if (m?.namespace !== sel.namespace || !matchesSelector(m.labels, sel.selector)) continue;
    const node = pod.spec?.nodeName;
    const ip = pod.status?.podIP;
    const phase = pod.status?.phase;
    if (node === undefined || node === '' || ip === undefined || ip === '' || phase === 'Succeeded' || phase === 'Failed') continue;
    const address = peerAddress(ip, sel.port);
    if (address === undefined) continue;
    const prev = best.get(node);
    if (prev === undefined || better(pod, prev.pod)) best.set(node, { pod, address });
  }
  return [...best.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, { address }]) => ({ name, address }));
}

function better(a: PodLike, b: PodLike): boolean {
  const rank = (p: PodLike): number => (p.metadata?.deletionTimestamp == null ? 2 : 0) + (p.status?.phase === 'Running' ? 1 : 0);
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra > rb;
  return (a.metadata?.name ?? '') > (b.metadata?.name ?? '');
}
