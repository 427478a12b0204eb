/**
 * A lab report as `l2vip lab --trials 1 --compare keepalived --report` would produce it (figures
 * from a real run), for the report's unit and browser tests.
 */
import type { TrialResult } from '../../src/lab/lab.js';
import type { AnswerSpan, ProbeReport } from '../../src/lab/outage.js';
import type { LabReport, ReportRun } from '../../src/lab/report-html.js';
import { planTopology } from '../../src/lab/topology.js';

const T0 = 1_795_981_946_000;

function vip(target: string, spans: readonly AnswerSpan[], outage: [number, number] | undefined): ProbeReport {
  const sent = spans.reduce((n, s) => n + s.probes, 0);
  const lost = spans.filter((s) => s.node === null).reduce((n, s) => n + s.probes, 0);
  return {
    target,
    sent,
    received: sent - lost,
    lost,
    late: 0,
    maxRttMs: 0.4,
    longestLossRun: lost,
    outageMs: outage === undefined ? 0 : outage[1] - outage[0] - 2,
    outageFrom: outage?.[0],
    outageTo: outage?.[1],
    changes: 1,
    nodes: [...new Set(spans.flatMap((s) => (s.node === null ? [] : [s.node])))],
    lastNode: spans[spans.length - 1]?.node ?? undefined,
    timeline: spans,
  };
}

/** A trial: `oldOwner` answers until the fault at +100 ms, nothing for `outageMs`, then `newOwner`. */
export function fixtureTrial(trial: number, oldOwner: string, newOwner: string, outageMs: number, events: TrialResult['events'], t0 = T0): TrialResult {
  const faultAt = t0 + 100;
  const back = faultAt + outageMs;
  const end = back + 80;
  const spans = (): AnswerSpan[] => [
    { from: t0, to: faultAt, node: oldOwner, probes: 50 },
    { from: faultAt, to: back, node: null, probes: Math.round(outageMs / 2) },
    { from: back, to: end, node: newOwner, probes: 40 },
  ];
  return {
    trial,
    fault: 'kill',
    oldOwner,
    newOwner,
    ipv4: vip('198.51.100.200', spans(), [faultAt - 2, back]),
    ipv6: vip('2001:db8:77::200', spans(), [faultAt - 2, back]),
    faultAt,
    gainedAt: back - 1,
    clientKnownBy: [],
    from: t0,
    to: end,
    events: events.map((e) => ({ ...e, at: faultAt + e.at })),
  };
}

export function fixtureReport(): LabReport {
  const topology = planTopology('1234z5f', 3);
  const l2vip: ReportRun = {
    label: 'l2vip',
    topology,
    results: [
      fixtureTrial(1, 'n1', 'n2', 75, [
        { node: 'n3', at: 44, kind: 'suspect', subject: 'n1' },
        { node: 'n2', at: 45, kind: 'suspect', subject: 'n1' },
        { node: 'n2', at: 75, kind: 'dead', subject: 'n1' },
        { node: 'n2', at: 76, kind: 'garp', subject: '198.51.100.200' },
        { node: 'n2', at: 76, kind: 'garp', subject: '2001:db8:77::200' },
        { node: 'n2', at: 76, kind: 'elected', subject: 'n2' },
        { node: 'n3', at: 79, kind: 'dead', subject: 'n1' },
        { node: 'n3', at: 79, kind: 'elected', subject: 'n2' },
      ]),
      fixtureTrial(2, 'n2', 'n3', 80, [
        { node: 'n3', at: 50, kind: 'suspect', subject: 'n2' },
        { node: 'n3', at: 80, kind: 'dead', subject: 'n2' },
        { node: 'n3', at: 81, kind: 'elected', subject: 'n3' },
        { node: 'n3', at: 81, kind: 'garp', subject: '198.51.100.200' },
      ], T0 + 20_000),
    ],
  };
  const keepalived: ReportRun = {
    label: 'keepalived (advert_int 0.1 s)',
    topology: planTopology('1234z60', 3),
    results: [
      fixtureTrial(1, 'n2', 'n1', 300, [
        { node: 'n1', at: 298, kind: 'dead', subject: 'master' },
        { node: 'n1', at: 299, kind: 'elected', subject: 'n1' },
        { node: 'n1', at: 299, kind: 'garp', subject: '198.51.100.200' },
      ], T0 + 60_000),
    ],
  };
  return { generatedAt: T0 + 90_000, fault: 'kill', loss: 0, intervalMs: 2, runs: [l2vip, keepalived] };
}
