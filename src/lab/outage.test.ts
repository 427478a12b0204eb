import { describe, expect, it } from 'vitest';
import { LATE_MS, type ProbeAnswer, type SentProbe, summarizeProbes } from './outage.js';

const INTERVAL = 2;

/** Probes 1..count sent every INTERVAL ms from t=0; `answer(seq)` gives [node, rtt] or undefined (lost). */
function window(count: number, answer: (seq: number) => [string, number] | undefined, extra: Partial<Parameters<typeof summarizeProbes>[0]> = {}) {
  const sent: SentProbe[] = [];
  const answers: ProbeAnswer[] = [];
  for (let seq = 1; seq <= count; seq++) {
    const at = (seq - 1) * INTERVAL;
    sent.push({ seq, at });
    const a = answer(seq);
    if (a !== undefined) answers.push({ seq, node: a[0], at: at + a[1] });
  }
  answers.sort((x, y) => x.at - y.at);
  const lastSent = (count - 1) * INTERVAL;
  return summarizeProbes({ target: '198.51.100.200', intervalMs: INTERVAL, sent, answers, now: lastSent + 1000, graceMs: 250, ...extra });
}

describe('lab outage', () => {
  it('is 0 with nothing lost, and counts every probe', () => {
    const r = window(100, () => ['n1', 0.3]);
    expect(r).toMatchObject({ sent: 100, received: 100, lost: 0, late: 0, longestLossRun: 0, outageMs: 0, changes: 0, nodes: ['n1'], lastNode: 'n1' });
    expect(r.maxRttMs).toBe(0.3);
    expect(r.outageFrom).toBeUndefined();
    expect(r.outageTo).toBeUndefined();
  });

  it('is the gap between the sending of the answered probes around the loss, less one interval', () => {
    // Probes 11..60 lost: last answered sent at 18 ms, next answered (61) at 120 ms.
    const r = window(100, (seq) => (seq > 10 && seq <= 60 ? undefined : ['n1', 0.5]), { epochOffset: 1_000_000 });
    expect(r).toMatchObject({ sent: 100, received: 50, lost: 50, longestLossRun: 50 });
    expect(r.outageMs).toBe(120 - 18 - INTERVAL);
    expect(r.outageMs).toBe(50 * INTERVAL);
    expect(r.outageFrom).toBe(1_000_000 + 18);
    expect(r.outageTo).toBe(1_000_000 + 120);
  });

  it('reports the longest of several gaps', () => {
    const r = window(200, (seq) => ((seq > 10 && seq <= 15) || (seq > 100 && seq <= 130) ? undefined : ['n1', 0.5]));
    expect(r.lost).toBe(35);
    expect(r.longestLossRun).toBe(30);
    expect(r.outageMs).toBe(30 * INTERVAL);
  });

  it(`counts an answer later than ${LATE_MS} ms as lost for the outage, but not in lost`, () => {
    // Probes 21..30 answered only after 1 s (held in the new owner's neighbour queue).
    const r = window(100, (seq) => (seq > 20 && seq <= 30 ? ['n2', 1000] : ['n2', 0.5]), { now: 5000 });
    expect(r).toMatchObject({ sent: 100, received: 100, lost: 0, late: 10, longestLossRun: 10 });
    expect(r.outageMs).toBe(10 * INTERVAL);
    expect(r.maxRttMs).toBeGreaterThanOrEqual(1000);
    // Exactly LATE_MS is still in time.
    expect(window(50, () => ['n1', LATE_MS], { now: 5000 })).toMatchObject({ late: 0, outageMs: 0 });
  });

  it('detects an owner change by sequence order, whatever order the answers were read in', () => {
    const r = window(100, (seq) => (seq <= 40 ? ['n1', 0.5] : seq <= 50 ? undefined : ['n2', 0.5]));
    expect(r).toMatchObject({ changes: 1, nodes: ['n1', 'n2'], lastNode: 'n2', outageMs: 10 * INTERVAL });
    // A late answer from the old owner read after the new owner's first answers does not add changes.
    const sent: SentProbe[] = [1, 2, 3, 4].map((seq) => ({ seq, at: seq * INTERVAL }));
    const answers: ProbeAnswer[] = [
      { seq: 1, node: 'n1', at: 2.1 },
      { seq: 3, node: 'n2', at: 6.1 },
      { seq: 2, node: 'n1', at: 6.2 },
      { seq: 4, node: 'n2', at: 8.1 },
    ];
    const r2 = summarizeProbes({ target: 't', intervalMs: INTERVAL, sent, answers, now: 1000, graceMs: 0 });
    expect(r2).toMatchObject({ changes: 1, nodes: ['n1', 'n2'], lastNode: 'n2', lost: 0 });
  });

  it('counts flapping between two nodes as several changes', () => {
    const r = window(30, (seq) => [seq <= 10 || seq > 20 ? 'n1' : 'n2', 0.5]);
    expect(r).toMatchObject({ changes: 2, nodes: ['n1', 'n2'], lastNode: 'n1', outageMs: 0 });
  });

  it('leaves out probes still in flight at the end, but uses their answers for the owner', () => {
    // Sent 1..100 over 198 ms; the report comes 10 ms after the last one, with a 50 ms grace:
    // probes sent after 158 ms (81..100) are neither sent nor lost yet.
    const r = window(100, (seq) => (seq <= 90 ? ['n1', 0.5] : seq <= 95 ? ['n2', 0.5] : undefined), { now: 208, graceMs: 50 });
    expect(r).toMatchObject({ sent: 80, received: 80, lost: 0, outageMs: 0 });
    expect(r.lastNode).toBe('n2');
    expect(r.changes).toBe(1);
  });

  it('ignores probes and answers from before the window (afterSeq)', () => {
    const r = window(100, (seq) => (seq <= 30 ? undefined : ['n3', 0.5]), { afterSeq: 30 });
    expect(r).toMatchObject({ sent: 70, lost: 0, outageMs: 0, nodes: ['n3'] });
  });

  it('reports everything lost when nothing answered, with no outage bounds', () => {
    const r = window(50, () => undefined);
    expect(r).toMatchObject({ sent: 50, received: 0, lost: 50, longestLossRun: 50, outageMs: 0, lastNode: undefined, nodes: [] });
  });

  it('draws who answered over time as contiguous spans, late answers and losses as unanswered', () => {
    // 1..40 n1, 41..50 lost, 51..55 late (n2), 56..100 n2.
    const r = window(100, (seq) => (seq <= 40 ? ['n1', 0.5] : seq <= 50 ? undefined : seq <= 55 ? ['n2', LATE_MS + 1] : ['n2', 0.5]), { epochOffset: 1000, now: 5000 });
    expect(r.timeline).toEqual([
      { from: 1000, to: 1000 + 40 * INTERVAL, node: 'n1', probes: 40 },
      { from: 1000 + 40 * INTERVAL, to: 1000 + 55 * INTERVAL, node: null, probes: 15 },
      { from: 1000 + 55 * INTERVAL, to: 1000 + 100 * INTERVAL, node: 'n2', probes: 45 },
    ]);
    expect(r.timeline.reduce((n, s) => n + s.probes, 0)).toBe(r.sent);
  });

  it('gives a probe answered twice to the first node that answered it', () => {
    const sent: SentProbe[] = [1, 2].map((seq) => ({ seq, at: seq * INTERVAL }));
    const answers: ProbeAnswer[] = [
      { seq: 1, node: 'n1', at: 2.1 },
      { seq: 2, node: 'n1', at: 4.1 },
      { seq: 2, node: 'n2', at: 4.2 },
    ];
    const r = summarizeProbes({ target: 't', intervalMs: INTERVAL, sent, answers, now: 1000, graceMs: 0 });
    expect(r.timeline).toEqual([{ from: 2, to: 6, node: 'n1', probes: 2 }]);
  });

  it('has an empty timeline when no probe is old enough to count', () => {
    expect(window(10, () => ['n1', 0.5], { now: 18, graceMs: 250 }).timeline).toEqual([]);
  });
});
