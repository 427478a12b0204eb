/**
 * What a client saw of one VIP (the lines of bench/lib/vip-watch.ts), reduced to the figures of
 * bench/vips.ts: pure functions, so the rules are tested without namespaces.
 */
import type { ReplyLine } from './vip-watch.js';

export interface VipTrace {
  /** Send times of the probes, ascending. */
  readonly probes: readonly number[];
  /** Every ARP reply with the VIP as sender: to the probes and gratuitous, ascending by time. */
  readonly replies: readonly ReplyLine[];
}

/**
 * Times the MAC a client would learn for the VIP changed in [from, to): every reply and
 * gratuitous announcement counts, in order, as a neighbour cache would take them.
 */
export function ownerChanges(t: VipTrace, from: number, to: number): number {
  let last: string | undefined;
  let n = 0;
  for (const r of t.replies) {
    if (r.at < from || r.at >= to) continue;
    if (last !== undefined && r.mac !== last) n++;
    last = r.mac;
  }
  return n;
}

/** The MAC of the latest reply or announcement before `to`: where a client's cache points. */
export function cachedMac(t: VipTrace, to: number): string | undefined {
  let mac: string | undefined;
  for (const r of t.replies) if (r.at < to) mac = r.mac;
  return mac;
}

/** Time of the first reply to a probe at or after `from`. */
export function firstAnswer(t: VipTrace, from: number): number | undefined {
  return t.replies.find((r) => !r.garp && r.at >= from)?.at;
}

/** The send time of the probe a reply at `at` answers: the latest probe sent before it. */
function probeOf(t: VipTrace, at: number): number | undefined {
  let lo = 0;
  let hi = t.probes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (t.probes[mid]! <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? undefined : t.probes[lo - 1];
}

/**
 * Outage of a failover at `killAt` of the node with MAC `dead`: from the last probe the dead node
 * answered to the first probe another node answered, less one probe interval (the client cannot
 * tell sooner); NaN if nobody took over.
 */
export function failoverOutage(t: VipTrace, killAt: number, dead: string, intervalMs: number): number {
  const before = t.replies.filter((r) => !r.garp && r.at < killAt && r.mac === dead).at(-1);
  const after = t.replies.find((r) => !r.garp && r.at >= killAt && r.mac !== dead);
  if (after === undefined) return NaN;
  const a = before === undefined ? killAt : (probeOf(t, before.at) ?? before.at);
  const b = probeOf(t, after.at) ?? after.at;
  return Math.max(0, b - a - intervalMs);
}

/** Time from `from` to the first gratuitous announcement by a MAC other than `dead`. */
export function firstAnnouncement(t: VipTrace, from: number, dead: string): number {
  const r = t.replies.find((x) => x.garp && x.at >= from && x.mac !== dead);
  return r === undefined ? NaN : r.at - from;
}

/** Probes answered by more than one MAC in [from, to): two nodes answering at once. */
export function doubleAnswers(t: VipTrace, from: number, to: number): number {
  let n = 0;
  for (let i = 0; i < t.probes.length; i++) {
    const p = t.probes[i]!;
    if (p < from || p >= to) continue;
    const end = t.probes[i + 1] ?? Infinity;
    const macs = new Set(t.replies.filter((r) => !r.garp && r.at >= p && r.at < end).map((r) => r.mac));
    if (macs.size > 1) n++;
  }
  return n;
}
