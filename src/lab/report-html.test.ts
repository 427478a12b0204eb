import { describe, expect, it } from 'vitest';
import { fixtureReport, fixtureTrial } from '../../test/helpers/lab-report-fixture.js';
import { escapeHtml, renderLabReport, steps, ticks } from './report-html.js';

/** The opening tags of the elements with this class, in document order. */
function tags(html: string, cls: string): string[] {
  return [...html.matchAll(new RegExp(`<[a-z]+ class="${cls}(?: [^"]*)?"[^>]*>`, 'g'))].map((m) => m[0]);
}

function attr(tag: string, name: string): string | undefined {
  return new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];
}

describe('lab report page', () => {
  const report = fixtureReport();
  const html = renderLabReport(report);

  it('is one self-contained HTML document: no script, no external resource', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).toContain('<meta charset="utf-8">');
    expect(html).not.toMatch(/<script|<link|<img|<iframe|\bsrc=|\bhref=|url\(|@import|https?:\/\//i);
  });

  it('draws the topology: the client, the bridge and every node with its addresses', () => {
    const nodes = tags(html, 'topo-node');
    expect(nodes.map((t) => attr(t, 'data-node'))).toEqual(['n1', 'n2', 'n3']);
    for (const a of ['198.51.100.2', '198.51.100.11', '2001:db8:77::13', '198.51.100.200', '2001:db8:77::200', 'bridge br0']) expect(html).toContain(a);
  });

  it('has one timeline per trial and software, in order, named by data attributes', () => {
    const svgs = tags(html, 'timeline');
    expect(svgs.map((t) => [attr(t, 'data-run'), attr(t, 'data-software'), attr(t, 'data-trial'), attr(t, 'data-old-owner'), attr(t, 'data-new-owner')])).toEqual([
      ['0', 'l2vip', '1', 'n1', 'n2'],
      ['0', 'l2vip', '2', 'n2', 'n3'],
      ['1', 'keepalived (advert_int 0.1 s)', '1', 'n2', 'n1'],
    ]);
  });

  it('shows who answered each VIP over time, the unanswered probes and the outage of each VIP', () => {
    const first = html.slice(html.indexOf('<svg class="timeline"'), html.indexOf('</svg>', html.indexOf('<svg class="timeline"')));
    const spans = tags(first, 'span');
    expect(spans).toHaveLength(6);
    expect(spans.map((t) => attr(t, 'data-node'))).toEqual(['n1', '', 'n2', 'n1', '', 'n2']);
    expect(spans.filter((t) => t.includes('class="span unanswered"')).map((t) => attr(t, 'data-probes'))).toEqual(['38', '38']);
    const outages = tags(first, 'outage');
    expect(outages.map((t) => [attr(t, 'data-vip'), attr(t, 'data-ms')])).toEqual([
      ['198.51.100.200', '75'],
      ['2001:db8:77::200', '75'],
    ]);
    // The outage band starts before the fault line and ends where n2's span starts.
    const n2 = spans[2]!;
    const o = outages[0]!;
    expect(Number(attr(o, 'x')) + Number(attr(o, 'width'))).toBeCloseTo(Number(attr(n2, 'x')), 0);
    expect(first).toMatch(/<line class="fault"/);
  });

  it('puts every membership event on its node\'s lane, with its kind, subject and time from the fault', () => {
    const ev = tags(html, 'event');
    expect(ev).toHaveLength(8 + 4 + 3);
    expect(ev.slice(0, 3).map((t) => [attr(t, 'data-kind'), attr(t, 'data-node'), attr(t, 'data-subject'), attr(t, 'data-ms')])).toEqual([
      ['suspect', 'n3', 'n1', '44'],
      ['suspect', 'n2', 'n1', '45'],
      ['dead', 'n2', 'n1', '75'],
    ]);
    expect(new Set(ev.map((t) => attr(t, 'data-kind')))).toEqual(new Set(['suspect', 'dead', 'elected', 'garp']));
    expect(html).toContain('<title>n2 declares dead n1 at 75 ms</title>');
  });

  it('says in words when each step came after the fault', () => {
    expect(steps(report.runs[0]!.results[0]!)).toBe(
      'After the fault: first suspicion 44 ms (n3), declared dead 75 ms (n2), new owner elected 76 ms (n2), first gratuitous announcement 76 ms (n2), client answered again 75 ms.',
    );
    expect(steps(fixtureTrial(1, 'n1', 'n2', 10, []))).toBe('After the fault: client answered again 10 ms.');
    // A suspicion of another node than the failed owner (a busy machine) is not a step of this failover.
    const busy = fixtureTrial(1, 'n1', 'n2', 10, [
      { node: 'n2', at: 3, kind: 'suspect', subject: 'n3' },
      { node: 'n3', at: 4, kind: 'elected', subject: 'n1' },
      { node: 'n2', at: 6, kind: 'suspect', subject: 'n1' },
    ]);
    expect(steps(busy)).toBe('After the fault: first suspicion 6.0 ms (n2), client answered again 10 ms.');
  });

  it('names the machine\'s load when it is known', () => {
    expect(renderLabReport({ ...report, machine: { loadAverage: [16.11, 14.2, 11], cpus: 2 } })).toContain('on 2 CPUs with load averages 16.11 14.20 11.00 at the end.');
    expect(html).toContain('measured in this run.</p>');
  });

  it('lists every trial in the summary, with the measured outages only', () => {
    const rows = html.slice(html.indexOf('<table class="summary">'), html.indexOf('</table>')).split('<tr>').slice(2);
    expect(rows).toHaveLength(3);
    expect(rows[2]).toContain('keepalived (advert_int 0.1 s)</td><td>1</td><td>n2 → n1</td><td>300 ms</td>');
  });

  it('escapes every text that comes from the run', () => {
    const evil = '<script>alert("x")</script>&\'';
    const r = fixtureReport();
    const run = r.runs[0]!;
    const t = run.results[0]!;
    const page = renderLabReport({
      ...r,
      fault: evil,
      runs: [{ ...run, label: evil, results: [{ ...t, oldOwner: evil, events: [{ node: 'n2', at: t.faultAt + 5, kind: 'suspect', subject: evil }] }] }],
    });
    expect(page).not.toContain('<script');
    expect(page).not.toContain('"x"');
    expect(page).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;');
  });

  it('renders a trial with no answer and no event without NaN', () => {
    const r = fixtureReport();
    const t = fixtureTrial(1, 'n1', 'n2', 50, []);
    const empty = { ...t, ipv4: { ...t.ipv4, timeline: [] }, ipv6: { ...t.ipv6, timeline: [] } };
    const page = renderLabReport({ ...r, runs: [{ ...r.runs[0]!, results: [empty] }] });
    expect(page).not.toMatch(/NaN|Infinity|undefined/);
    expect(tags(page, 'timeline')).toHaveLength(1);
  });
});

describe('report helpers', () => {
  it('escapes the five HTML special characters', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('chooses round ticks covering the range', () => {
    expect(ticks(-100, 400)).toEqual([-100, 0, 100, 200, 300, 400]);
    expect(ticks(-10, 60)).toEqual([-10, 0, 10, 20, 30, 40, 50, 60]);
    expect(ticks(-100, 600)).toEqual([-100, 0, 100, 200, 300, 400, 500, 600]);
    expect(ticks(0, 0)).toEqual([0]);
  });
});
