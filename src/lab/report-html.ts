/**
 * `l2vip lab --report FILE.html`: the page, as a pure function of what the lab measured. The
 * page is self-contained (inline CSS and SVG, no script, no external resource), so it opens from
 * a file on a machine without network access. Every text that comes from the run (labels, node
 * names, log subjects) is escaped.
 */
import type { NodeTimelineEvent, TrialResult } from './lab.js';
import type { AnswerSpan, ProbeReport } from './outage.js';
import type { LabTopology } from './topology.js';

/** One software's trials in one lab (l2vip, or keepalived with --compare). */
export interface ReportRun {
  readonly label: string;
  readonly topology: LabTopology;
  readonly results: readonly TrialResult[];
}

export interface LabReport {
  /** ms since the epoch. */
  readonly generatedAt: number;
  readonly fault: string;
  /** Loss injected between nodes, %. */
  readonly loss: number;
  readonly intervalMs: number;
  /** The machine's 1, 5 and 15 minute load averages and its CPU count when the report was made: the figures depend on them. */
  readonly machine?: { readonly loadAverage: readonly number[]; readonly cpus: number };
  readonly runs: readonly ReportRun[];
}

/** HTML-escapes text for element content and double-quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

const esc = escapeHtml;

/** Colour-blind-safe palette (Okabe–Ito), one per node in order n1..n9. */
const NODE_COLOURS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#999999', '#000000'];
const UNANSWERED = '#d62728';

function colourOf(node: string, nodes: readonly string[]): string {
  const i = nodes.indexOf(node);
  return i < 0 ? '#777777' : NODE_COLOURS[i % NODE_COLOURS.length]!;
}

const EVENT_TEXT: Record<NodeTimelineEvent['kind'], string> = {
  suspect: 'suspects',
  dead: 'declares dead',
  elected: 'sees elected',
  garp: 'first gratuitous announcement for',
};

/** A number for SVG coordinates: one decimal, never NaN. */
function n(x: number): string {
  return Number.isFinite(x) ? String(Math.round(x * 10) / 10) : '0';
}

function msText(x: number): string {
  return `${Math.abs(x) < 10 ? x.toFixed(1) : x.toFixed(0)} ms`;
}

const CSS = `
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;background:#fff;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}h3{font-size:15px;margin:18px 0 4px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.meta{color:#555}.legend span{display:inline-block;margin-right:14px}.sw{display:inline-block;width:12px;height:12px;vertical-align:-1px;margin-right:4px;border:1px solid #0003}
svg{display:block;max-width:100%;height:auto}svg text{font:12px system-ui,sans-serif;fill:#222}svg .small{font-size:11px;fill:#555}
.trial{margin:10px 0 24px}.steps{margin:2px 0 4px;color:#333}
`;

/** The page. */
export function renderLabReport(r: LabReport): string {
  const first = r.runs[0];
  const body: string[] = [];
  body.push(`<h1>l2vip lab report</h1>`);
  body.push(
    `<p class="meta">Generated ${esc(new Date(r.generatedAt).toISOString())}. Fault: <b>${esc(r.fault)}</b> of the owner; loss between nodes: ${esc(String(r.loss))} %; ` +
      `the client probes each VIP every ${esc(String(r.intervalMs))} ms. Every figure on this page was measured in this run` +
      (r.machine === undefined ? '' : `, on ${r.machine.cpus} CPUs with load averages ${esc(r.machine.loadAverage.map((l) => l.toFixed(2)).join(' '))} at the end`) +
      '.</p>',
  );
  if (first !== undefined) {
    body.push('<h2>Topology</h2>');
    body.push(topologySvg(first.topology, r.runs.map((x) => x.label)));
  }
  body.push('<h2>Summary</h2>');
  body.push(summaryTable(r.runs));
  body.push(legend(first?.topology.nodes.map((x) => x.name) ?? []));
  for (const [ri, run] of r.runs.entries()) {
    body.push(`<h2 class="run" data-run="${ri}">${esc(run.label)}</h2>`);
    const nodes = run.topology.nodes.map((x) => x.name);
    for (const t of run.results) body.push(trialFigure(run, ri, t, nodes));
  }
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>l2vip lab report: ${esc(r.runs.map((x) => x.label).join(' vs '))}</title>`,
    `<style>${CSS}</style>`,
    '</head><body>',
    ...body,
    '</body></html>',
    '',
  ].join('\n');
}

function topologySvg(t: LabTopology, labels: readonly string[]): string {
  const W = 1000;
  const nodes = t.nodes.map((x) => x.name);
  const step = W / (t.nodes.length + 1);
  const out: string[] = [`<svg class="topology" viewBox="0 0 ${W} 230" width="${W}" role="img" aria-label="lab topology">`];
  out.push(`<rect x="${n(W / 2 - 130)}" y="8" width="260" height="46" rx="6" fill="#eee" stroke="#888"/>`);
  out.push(`<text x="${n(W / 2)}" y="27" text-anchor="middle">client ${esc(t.client.name)}: ${esc(t.client.ipv4)}</text>`);
  out.push(`<text class="small" x="${n(W / 2)}" y="44" text-anchor="middle">${esc(t.client.ipv6)} · probes the VIPs (UDP echo)</text>`);
  out.push(`<line x1="${n(W / 2)}" y1="54" x2="${n(W / 2)}" y2="92" stroke="#888" stroke-width="2"/>`);
  out.push(`<rect x="40" y="92" width="${W - 80}" height="24" rx="4" fill="#f6f6f6" stroke="#888"/>`);
  out.push(`<text x="${n(W / 2)}" y="109" text-anchor="middle">bridge br0 (namespace ${esc(t.switchNs)})</text>`);
  for (const [i, h] of t.nodes.entries()) {
    const x = step * (i + 1);
    out.push(`<line x1="${n(x)}" y1="116" x2="${n(x)}" y2="150" stroke="#888" stroke-width="2"/>`);
    out.push(`<g class="topo-node" data-node="${esc(h.name)}">`);
    out.push(`<rect x="${n(x - 70)}" y="150" width="140" height="56" rx="6" fill="${colourOf(h.name, nodes)}" fill-opacity="0.18" stroke="${colourOf(h.name, nodes)}" stroke-width="2"/>`);
    out.push(`<text x="${n(x)}" y="168" text-anchor="middle" font-weight="bold">${esc(h.name)}</text>`);
    out.push(`<text class="small" x="${n(x)}" y="184" text-anchor="middle">${esc(h.ipv4)}</text>`);
    out.push(`<text class="small" x="${n(x)}" y="199" text-anchor="middle">${esc(h.ipv6)}</text>`);
    out.push('</g>');
  }
  out.push(`<text class="small" x="${n(W / 2)}" y="224" text-anchor="middle">VIPs ${esc(t.vip4)} and ${esc(t.vip6)}, kept by: ${esc(labels.join('; then, in a fresh lab, '))}</text>`);
  out.push('</svg>');
  return out.join('\n');
}

function summaryTable(runs: readonly ReportRun[]): string {
  const rows: string[] = ['<table class="summary"><tr><th>software</th><th>trial</th><th>owner → new owner</th><th>IPv4 outage</th><th>IPv4 lost</th><th>IPv6 outage</th><th>IPv6 lost</th></tr>'];
  for (const run of runs) {
    for (const t of run.results) {
      rows.push(
        `<tr><td>${esc(run.label)}</td><td>${t.trial}</td><td>${esc(t.oldOwner)} → ${esc(t.newOwner ?? '?')}</td>` +
          `<td>${esc(msText(t.ipv4.outageMs))}</td><td>${t.ipv4.lost}</td><td>${esc(msText(t.ipv6.outageMs))}</td><td>${t.ipv6.lost}</td></tr>`,
      );
    }
  }
  rows.push('</table>');
  return rows.join('\n');
}

function legend(nodes: readonly string[]): string {
  const sw = (c: string, text: string): string => `<span><i class="sw" style="background:${c}"></i>${esc(text)}</span>`;
  return [
    '<p class="legend">',
    ...nodes.map((x) => sw(colourOf(x, nodes), `answered by ${x}`)),
    sw(UNANSWERED, 'no answer in time (lost, or later than 200 ms)'),
    sw('#d6272833', 'outage'),
    '<br>Events, on the lane of the node that logged them: ',
    '<span>○ suspect</span><span>✕ dead</span><span>◆ elected</span><span>■ first gratuitous ARP/NA</span>',
    '<span>┆ fault</span>',
    '</p>',
  ].join('\n');
}

const SHAPES: Record<NodeTimelineEvent['kind'], (x: number, y: number, c: string) => string> = {
  suspect: (x, y, c) => `<circle cx="${n(x)}" cy="${n(y)}" r="5" fill="#fff" stroke="${c}" stroke-width="2"/>`,
  dead: (x, y, c) => `<path d="M${n(x - 5)} ${n(y - 5)}L${n(x + 5)} ${n(y + 5)}M${n(x + 5)} ${n(y - 5)}L${n(x - 5)} ${n(y + 5)}" stroke="${c}" stroke-width="2.5"/>`,
  elected: (x, y, c) => `<path d="M${n(x)} ${n(y - 6)}L${n(x + 6)} ${n(y)}L${n(x)} ${n(y + 6)}L${n(x - 6)} ${n(y)}Z" fill="${c}"/>`,
  garp: (x, y, c) => `<rect x="${n(x - 4.5)}" y="${n(y - 4.5)}" width="9" height="9" fill="${c}"/>`,
};

/** Where in a node's lane each kind of event sits, so events at the same time stay apart. */
const ROW: Record<NodeTimelineEvent['kind'], number> = { suspect: 9, dead: 9, elected: 17, garp: 25 };

/** One trial: lanes for each VIP (who answered over time) and each node (its events), on one time axis relative to the fault. */
function trialFigure(run: ReportRun, ri: number, t: TrialResult, nodes: readonly string[]): string {
  const W = 1000;
  const LEFT = 250;
  const RIGHT = 20;
  const LANE = 32;
  const TOP = 24;
  const vips: ProbeReport[] = [t.ipv4, t.ipv6].filter((v) => v.timeline.length > 0);
  const lanes = vips.length + nodes.length;
  const axisY = TOP + lanes * LANE + 8;
  const H = axisY + 34;
  const times = [t.from, t.to, ...t.events.map((e) => e.at)];
  const t0 = Math.min(...times);
  const t1 = Math.max(...times, t0 + 1);
  const x = (at: number): number => LEFT + ((at - t0) / (t1 - t0)) * (W - LEFT - RIGHT);
  const rel = (at: number): number => at - t.faultAt;
  const out: string[] = [];
  out.push(`<div class="trial"><h3>${esc(run.label)}, trial ${t.trial}: ${esc(t.fault)} of ${esc(t.oldOwner)}; new owner ${esc(t.newOwner ?? 'none seen')}; outage IPv4 ${esc(msText(t.ipv4.outageMs))}, IPv6 ${esc(msText(t.ipv6.outageMs))}</h3>`);
  out.push(`<p class="steps">${esc(steps(t))}</p>`);
  out.push(
    `<svg class="timeline" viewBox="0 0 ${W} ${H}" width="${W}" role="img" aria-label="${esc(`${run.label} trial ${t.trial} timeline`)}" ` +
      `data-run="${ri}" data-software="${esc(run.label)}" data-trial="${t.trial}" data-fault="${esc(t.fault)}" data-old-owner="${esc(t.oldOwner)}" data-new-owner="${esc(t.newOwner ?? '')}">`,
  );
  // Lane backgrounds, then the outages, under everything else, across all lanes.
  for (const [i, node] of nodes.entries()) {
    const y = TOP + (vips.length + i) * LANE;
    out.push(`<rect x="${LEFT}" y="${y + 2}" width="${W - LEFT - RIGHT}" height="${LANE - 4}" fill="#f7f7f7"/>`);
    out.push(`<text x="${LEFT - 8}" y="${y + 19}" text-anchor="end">${esc(node)} logged</text>`);
  }
  for (const v of vips) {
    if (v.outageFrom === undefined || v.outageTo === undefined) continue;
    out.push(
      `<rect class="outage" data-vip="${esc(v.target)}" data-ms="${n(v.outageMs)}" x="${n(x(v.outageFrom))}" y="${TOP - 4}" width="${n(Math.max(1, x(v.outageTo) - x(v.outageFrom)))}" height="${lanes * LANE + 8}" fill="${UNANSWERED}" fill-opacity="0.12">` +
        `<title>${esc(`${v.target}: outage ${msText(v.outageMs)}`)}</title></rect>`,
    );
  }
  for (const [i, v] of vips.entries()) {
    const y = TOP + i * LANE;
    out.push(`<text x="${LEFT - 8}" y="${y + 19}" text-anchor="end">${esc(v.target)} answered by</text>`);
    out.push(`<g class="answers" data-vip="${esc(v.target)}">`);
    for (const s of v.timeline) out.push(spanRect(s, x, y, nodes, t.faultAt));
    out.push('</g>');
  }
  for (const e of t.events) {
    const lane = nodes.indexOf(e.node);
    if (lane < 0) continue;
    const y = TOP + (vips.length + lane) * LANE + ROW[e.kind];
    // The node the event is about (suspected, declared dead, elected); a gratuitous announcement is about its sender.
    const c = colourOf(e.kind === 'garp' ? e.node : e.subject, nodes);
    out.push(
      `<g class="event" data-kind="${e.kind}" data-node="${esc(e.node)}" data-subject="${esc(e.subject)}" data-ms="${n(rel(e.at))}">${SHAPES[e.kind](x(e.at), y, c)}` +
        `<title>${esc(`${e.node} ${EVENT_TEXT[e.kind]} ${e.subject} at ${msText(rel(e.at))}`)}</title></g>`,
    );
  }
  // The fault, and the time axis in ms from it.
  const fx = x(t.faultAt);
  out.push(`<line class="fault" x1="${n(fx)}" y1="${TOP - 8}" x2="${n(fx)}" y2="${axisY}" stroke="#000" stroke-dasharray="4 3"/>`);
  out.push(`<text x="${n(fx + 4)}" y="${TOP - 10}">${esc(`${t.fault} ${t.oldOwner}`)}</text>`);
  out.push(`<line x1="${LEFT}" y1="${axisY}" x2="${W - RIGHT}" y2="${axisY}" stroke="#444"/>`);
  for (const tick of ticks(rel(t0), rel(t1))) {
    const tx = x(t.faultAt + tick);
    out.push(`<line x1="${n(tx)}" y1="${axisY}" x2="${n(tx)}" y2="${axisY + 5}" stroke="#444"/><text class="small" x="${n(tx)}" y="${axisY + 18}" text-anchor="middle">${tick}</text>`);
  }
  out.push(`<text class="small" x="${W - RIGHT}" y="${axisY + 32}" text-anchor="end">ms after the fault</text>`);
  out.push('</svg></div>');
  return out.join('\n');
}

function spanRect(s: AnswerSpan, x: (at: number) => number, y: number, nodes: readonly string[], faultAt: number): string {
  const fill = s.node === null ? UNANSWERED : colourOf(s.node, nodes);
  const who = s.node === null ? 'no answer in time' : `answered by ${s.node}`;
  return (
    `<rect class="span ${s.node === null ? 'unanswered' : 'answered'}" data-node="${esc(s.node ?? '')}" data-probes="${s.probes}" ` +
    `x="${n(x(s.from))}" y="${y + 6}" width="${n(Math.max(0.5, x(s.to) - x(s.from)))}" height="16" fill="${fill}">` +
    `<title>${esc(`${who}: ${s.probes} probes, ${msText(s.from - faultAt)} to ${msText(s.to - faultAt)}`)}</title></rect>`
  );
}

/** The first of each step after the fault, in ms from it: what the timeline shows, in words. */
export function steps(t: TrialResult): string {
  // Only what concerns the failed owner: a suspicion of another node (a busy machine) is not a step of this failover.
  const about = (e: NodeTimelineEvent): boolean => (e.kind === 'suspect' || e.kind === 'dead' ? e.subject === t.oldOwner || e.subject === 'master' : e.kind === 'elected' ? e.subject !== t.oldOwner : true);
  const after = t.events.filter((e) => e.at >= t.faultAt && about(e));
  const first = (kind: NodeTimelineEvent['kind']): string | undefined => {
    const e = after.find((x) => x.kind === kind);
    return e === undefined ? undefined : `${msText(e.at - t.faultAt)} (${e.node})`;
  };
  const back = [t.ipv4, t.ipv6].map((v) => v.outageTo).filter((x): x is number => x !== undefined);
  const parts = [
    ['first suspicion', first('suspect')],
    ['declared dead', first('dead')],
    ['new owner elected', first('elected')],
    ['first gratuitous announcement', first('garp')],
    ['client answered again', back.length > 0 ? msText(Math.max(...back) - t.faultAt) : undefined],
  ].filter((p): p is [string, string] => p[1] !== undefined);
  return parts.length === 0 ? 'No membership event logged in this window.' : `After the fault: ${parts.map(([k, v]) => `${k} ${v}`).join(', ')}.`;
}

/** Round tick values (ms) covering [a, b], about 8 of them. */
export function ticks(a: number, b: number): number[] {
  const span = Math.max(b - a, 1);
  const raw = span / 8;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(a / step) * step; v <= b; v += step) out.push(Math.round(v * 1000) / 1000);
  return out;
}
