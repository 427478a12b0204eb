/**
 * The lab's outage figure (docs/lab.md, and the README's failover numbers), as a pure function
 * of when each probe was sent and when, and by whom, it was answered. The prober records; this
 * file decides what counts.
 */

/**
 * An answer later than this counts as lost for the outage: a probe the new owner's kernel held
 * in its neighbour queue for a second (while it resolved the client) is answered, but a client
 * waited that long. Far above the round trip on the bridge (well under 1 ms) and the prober's
 * own scheduling delays on a loaded machine (tens of ms).
 */
export const LATE_MS = 200;

/** One probe sent: its sequence number and when (ms, a monotonic clock). */
export interface SentProbe {
  readonly seq: number;
  readonly at: number;
}

/** One answer read: the probe it answers, the node that answered and when it was read (same clock). */
export interface ProbeAnswer {
  readonly seq: number;
  readonly node: string;
  readonly at: number;
}

/**
 * A run of consecutive probes with the same fate: answered in time (within LATE_MS) by `node`,
 * or not (`node` null: lost or late). Spans of a window follow each other without gap: `to` is
 * the sending of the next span's first probe (or one interval after the window's last probe).
 * Times are wall-clock ms since the epoch, like `outageFrom`.
 */
export interface AnswerSpan {
  readonly from: number;
  readonly to: number;
  readonly node: string | null;
  readonly probes: number;
}

/** What one VIP's probes showed over a window. */
export interface ProbeReport {
  readonly target: string;
  readonly sent: number;
  readonly received: number;
  /** Probes sent in the window that got no answer. */
  readonly lost: number;
  /** Probes answered later than LATE_MS (not in `lost`; counted as unanswered for the outage). */
  readonly late: number;
  /** Longest round trip of an answered probe, ms. */
  readonly maxRttMs: number;
  /** Longest run of consecutive unanswered probes, in probes. */
  readonly longestLossRun: number;
  /**
   * The outage: the longest time between the sending of two consecutive probes answered within
   * LATE_MS, less one interval, ms (0 when nothing was lost). Measured on send times, so a client
   * that is slow to read its answers does not inflate it.
   */
  readonly outageMs: number;
  /**
   * Wall-clock times (ms since the epoch, this machine's clock) of the sending of the two
   * answered probes around the outage; undefined when nothing was lost. They place the outage
   * against other events, such as the fault or a speaker's log line.
   */
  readonly outageFrom: number | undefined;
  readonly outageTo: number | undefined;
  /** Times the answering node differed from the one that answered the previous probe (by sequence). */
  readonly changes: number;
  /** Nodes that answered, in order of first answer. */
  readonly nodes: readonly string[];
  /** Node that answered last. */
  readonly lastNode: string | undefined;
  /** Who answered the window's probes over time (the probes `sent` counts), in order. */
  readonly timeline: readonly AnswerSpan[];
}

export interface ProbeWindow {
  readonly target: string;
  /** Probe spacing, ms. */
  readonly intervalMs: number;
  /** Probes sent, in sequence order. */
  readonly sent: readonly SentProbe[];
  /** Answers in the order they were read (a probe may be answered twice, by two nodes). */
  readonly answers: readonly ProbeAnswer[];
  /** Probes up to this sequence number belong to an earlier window and are ignored. Default 0. */
  readonly afterSeq?: number;
  /** The time of the report (same clock as `at`). */
  readonly now: number;
  /**
   * Probes sent less than this long before `now` may still be in flight (or late): they are
   * neither sent nor lost yet. Their answers still count for `nodes`, `lastNode` and `changes`.
   */
  readonly graceMs: number;
  /** Added to `at` to make `outageFrom`/`outageTo` wall-clock times (performance.timeOrigin). Default 0. */
  readonly epochOffset?: number;
}

const tenths = (x: number): number => Math.round(x * 10) / 10;

/** The report of one window of probes; see ProbeReport for what each figure means. */
export function summarizeProbes(w: ProbeWindow): ProbeReport {
  const afterSeq = w.afterSeq ?? 0;
  const epochOffset = w.epochOffset ?? 0;
  const by = new Map<number, string>();
  const arrived = new Map<number, number>();
  const firstBy = new Map<number, string>();
  const nodes: string[] = [];
  let lastNode: string | undefined;
  for (const r of w.answers) {
    if (r.seq <= afterSeq) continue;
    by.set(r.seq, r.node);
    if (!arrived.has(r.seq)) {
      arrived.set(r.seq, r.at);
      firstBy.set(r.seq, r.node);
    }
    if (!nodes.includes(r.node)) nodes.push(r.node);
    lastNode = r.node;
  }
  let changes = 0;
  let previous: string | undefined;
  for (const [, node] of [...by].sort(([a], [b]) => a - b)) {
    if (previous !== undefined && node !== previous) changes++;
    previous = node;
  }
  let sent = 0;
  let lost = 0;
  let late = 0;
  let maxRttMs = 0;
  let run = 0;
  let longestLossRun = 0;
  let outageMs = 0;
  let outageFrom: number | undefined;
  let outageTo: number | undefined;
  let lastAnswered: number | undefined;
  const timeline: { from: number; to: number; node: string | null; probes: number }[] = [];
  for (const { seq, at } of w.sent) {
    if (seq <= afterSeq || w.now - at < w.graceMs) continue;
    sent++;
    const answeredAt = arrived.get(seq);
    const rtt = answeredAt === undefined ? undefined : answeredAt - at;
    const node = rtt !== undefined && rtt <= LATE_MS ? (firstBy.get(seq) ?? null) : null;
    const span = timeline[timeline.length - 1];
    if (span !== undefined) span.to = epochOffset + at;
    if (span !== undefined && span.node === node) span.probes++;
    else timeline.push({ from: epochOffset + at, to: epochOffset + at, node, probes: 1 });
    if (rtt !== undefined) maxRttMs = Math.max(maxRttMs, rtt);
    if (rtt !== undefined && rtt > LATE_MS) late++;
    if (rtt !== undefined && rtt <= LATE_MS) {
      run = 0;
      if (lastAnswered !== undefined && at - lastAnswered - w.intervalMs > outageMs) {
        outageMs = at - lastAnswered - w.intervalMs;
        outageFrom = epochOffset + lastAnswered;
        outageTo = epochOffset + at;
      }
      lastAnswered = at;
    } else {
      if (rtt === undefined) lost++;
      run++;
      longestLossRun = Math.max(longestLossRun, run);
    }
  }
  const last = timeline[timeline.length - 1];
  if (last !== undefined) last.to += w.intervalMs;
  return {
    target: w.target,
    sent,
    received: sent - lost,
    lost,
    late,
    maxRttMs: tenths(maxRttMs),
    longestLossRun,
    outageMs: tenths(outageMs),
    outageFrom,
    outageTo,
    changes,
    nodes,
    lastNode,
    timeline,
  };
}
