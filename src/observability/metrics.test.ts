import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ResponderStats } from '../announcer/responder-stats.js';
import { DROP_REASONS, type MembershipStats } from '../membership/membership.js';
import { silentLogger } from './logger.js';
import { SCRAPE_SLICE_LINES, scrapeText, speakerMetrics, startMetricsServer } from './metrics.js';

describe('speaker metrics', () => {
  it('exposes MetalLB\'s layer 2 metric names per IP, and l2vip drops per reason', async () => {
    const stats = new ResponderStats();
    Object.assign(stats.ip('192.0.2.10'), { requestsReceived: 5, responsesSent: 4, gratuitousSent: 10, conflicts: 1 });
    stats.drop('not-ours');
    stats.drop('not-ours');
    stats.drop('malformed:bad-checksum');
    const reg = speakerMetrics({
      node: 'n1',
      stats,
      owned: () => new Map([['192.0.2.10', new Set(['eth0'])]]),
      services: () => [
        { name: 'web', addresses: ['192.0.2.10'], owner: 'n1' },
        { name: 'api', addresses: ['192.0.2.11'], owner: 'n2' },
        { name: 'off', addresses: ['192.0.2.12'], owner: undefined },
      ],
    });
    const text = await scrapeText(reg);
    expect(text).toContain('metallb_layer2_requests_received{ip="192.0.2.10"} 5');
    expect(text).toContain('metallb_layer2_responses_sent{ip="192.0.2.10"} 4');
    expect(text).toContain('metallb_layer2_gratuitous_sent{ip="192.0.2.10"} 10');
    expect(text).toContain('l2vip_layer2_conflicts_total{ip="192.0.2.10"} 1');
    expect(text).toContain('l2vip_layer2_dropped_frames_total{reason="not-ours"} 2');
    expect(text).toContain('l2vip_layer2_dropped_frames_total{reason="malformed:bad-checksum"} 1');
    expect(text).toContain('metallb_speaker_announced{node="n1",service="web",protocol="layer2",ip="192.0.2.10"} 1');
    expect(text).not.toContain('service="api",protocol');
    expect(text).toContain('l2vip_service_owned{service="off"} 0');
    // Scraping twice reports the same absolute values, not doubled ones.
    expect(await scrapeText(reg)).toBe(text);
  });

  it('counts membership datagrams by the key that verified them (rotation progress)', async () => {
    const zero = { incarnation: 1, sent: 0, received: 0, accepted: 10, suspicions: 0, deaths: 0, revivals: 0, leaves: 0, refutations: 0, stalls: 0, badMetadata: 0, sendErrors: 0 };
    const stats: MembershipStats = { ...zero, drops: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as MembershipStats['drops'], verified: { current: 7, previous: 3 } };
    const reg = speakerMetrics({
      node: 'n1',
      stats: new ResponderStats(),
      owned: () => new Map(),
      services: () => [],
      membership: { stats: () => stats, view: () => ({ alive: new Set(), members: new Map() }) },
    });
    const text = await scrapeText(reg);
    expect(text).toContain('l2vip_membership_datagrams_verified_total{key="current"} 7');
    expect(text).toContain('l2vip_membership_datagrams_verified_total{key="previous"} 3');
  });
});

describe('per-VIP series', () => {
  /** The per-VIP families of a scrape: from the first of them to the end. */
  const perVipText = (text: string): string => text.slice(text.indexOf('# HELP metallb_layer2_requests_received'));

  it('are exact after ownership changes: counters of every IP seen, announced only for what this node owns now', async () => {
    const stats = new ResponderStats();
    Object.assign(stats.ip('192.0.2.10'), { requestsReceived: 5, responsesSent: 4, gratuitousSent: 10 });
    stats.ip('192.0.2.11').gratuitousSent = 2;
    let owned = new Map([['192.0.2.10', new Set(['eth0'])]]);
    let owners: Record<string, string | undefined> = { web: 'n1', api: 'n2' };
    const services = () => [
      { name: 'web', addresses: ['192.0.2.10'], owner: owners.web },
      { name: 'api', addresses: ['192.0.2.11', '192.0.2.12'], owner: owners.api },
    ];
    const m = speakerMetrics({ node: 'n1', stats, owned: () => owned, services });
    expect(perVipText(await scrapeText(m))).toBe(
      [
        '# HELP metallb_layer2_requests_received ARP requests and NDP solicitations received for an announced IP',
        '# TYPE metallb_layer2_requests_received counter',
        'metallb_layer2_requests_received{ip="192.0.2.10"} 5',
        'metallb_layer2_requests_received{ip="192.0.2.11"} 0',
        '',
        '# HELP metallb_layer2_responses_sent ARP replies and NDP advertisements sent in answer',
        '# TYPE metallb_layer2_responses_sent counter',
        'metallb_layer2_responses_sent{ip="192.0.2.10"} 4',
        'metallb_layer2_responses_sent{ip="192.0.2.11"} 0',
        '',
        '# HELP metallb_layer2_gratuitous_sent Gratuitous ARP frames and unsolicited NDP advertisements sent',
        '# TYPE metallb_layer2_gratuitous_sent counter',
        'metallb_layer2_gratuitous_sent{ip="192.0.2.10"} 10',
        'metallb_layer2_gratuitous_sent{ip="192.0.2.11"} 2',
        '',
        '# HELP l2vip_layer2_conflicts_total Frames from another MAC claiming an IP this node announces',
        '# TYPE l2vip_layer2_conflicts_total counter',
        'l2vip_layer2_conflicts_total{ip="192.0.2.10"} 0',
        'l2vip_layer2_conflicts_total{ip="192.0.2.11"} 0',
        '',
        '# HELP metallb_speaker_announced Services announced from this node (1 per IP)',
        '# TYPE metallb_speaker_announced gauge',
        'metallb_speaker_announced{node="n1",service="web",protocol="layer2",ip="192.0.2.10"} 1',
        '',
      ].join('\n'),
    );
    // n2 died: this node takes api over (both its IPs), then loses web to a node that came back.
    owners = { web: 'n3', api: 'n1' };
    owned = new Map([
      ['192.0.2.11', new Set(['eth0'])],
      ['192.0.2.12', new Set(['eth0'])],
    ]);
    stats.ip('192.0.2.12').gratuitousSent = 2;
    stats.ip('192.0.2.11').gratuitousSent += 2;
    const after = perVipText(await scrapeText(m));
    expect(after).toContain('metallb_layer2_gratuitous_sent{ip="192.0.2.11"} 4\nmetallb_layer2_gratuitous_sent{ip="192.0.2.12"} 2\n');
    expect(after).toContain('metallb_layer2_requests_received{ip="192.0.2.10"} 5\nmetallb_layer2_requests_received{ip="192.0.2.11"} 0\nmetallb_layer2_requests_received{ip="192.0.2.12"} 0\n');
    expect(after.slice(after.indexOf('# HELP metallb_speaker_announced'))).toBe(
      [
        '# HELP metallb_speaker_announced Services announced from this node (1 per IP)',
        '# TYPE metallb_speaker_announced gauge',
        'metallb_speaker_announced{node="n1",service="api",protocol="layer2",ip="192.0.2.11"} 1',
        'metallb_speaker_announced{node="n1",service="api",protocol="layer2",ip="192.0.2.12"} 1',
        '',
      ].join('\n'),
    );
    // Nothing owned: the family is still described, with no series (as prom-client prints it).
    owned = new Map();
    expect(await scrapeText(m)).toMatch(/# TYPE metallb_speaker_announced gauge\n$/);
  });

  it('print what prom-client prints for the same series, label values escaped', async () => {
    const { Gauge } = await import('prom-client');
    const stats = new ResponderStats();
    const m = speakerMetrics({ node: 'n"1', stats, owned: () => new Set(['192.0.2.1']), services: () => [{ name: 'a\\b\nc', addresses: ['192.0.2.1'], owner: 'n"1' }] });
    const reg = new Registry();
    new Gauge({ name: 'metallb_speaker_announced', help: 'Services announced from this node (1 per IP)', labelNames: ['node', 'service', 'protocol', 'ip'], registers: [reg] }).set({ node: 'n"1', service: 'a\\b\nc', protocol: 'layer2', ip: '192.0.2.1' }, 1);
    const ours = await scrapeText(m);
    expect(ours.slice(ours.indexOf('# HELP metallb_speaker_announced'))).toBe(await reg.metrics());
  });

  it('are served in slices, one per event-loop turn, with the same text as one scrape', async () => {
    const stats = new ResponderStats();
    const n = 3 * SCRAPE_SLICE_LINES;
    const ips = Array.from({ length: n }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
    for (const ip of ips) stats.ip(ip).gratuitousSent = 2;
    const owned = new Set(ips);
    const m = speakerMetrics({ node: 'n1', stats, owned: () => owned, services: () => [{ name: 'many', addresses: ips, owner: 'n1' }] });
    expect([...m.perVip.slices()].length).toBeGreaterThan(n * 5 / SCRAPE_SLICE_LINES - 1);
    const server = await startMetricsServer('127.0.0.1:0', m, silentLogger());
    try {
      const { port } = server.address() as AddressInfo;
      let turns = 0;
      let ticking = true;
      const tick = (): void => {
        turns++;
        if (ticking) setImmediate(tick);
      };
      setImmediate(tick);
      const body = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
      ticking = false;
      expect(body).toBe(await scrapeText(m));
      expect(body.split('\n').filter((l) => l.startsWith('metallb_speaker_announced{')).length).toBe(n);
      // Other work ran between the slices.
      expect(turns).toBeGreaterThanOrEqual(5 * n / SCRAPE_SLICE_LINES - 1);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('health endpoints', () => {
  it('answer 200 ok when every check passes, and 503 with one problem a line otherwise', async () => {
    const { startMetricsServer } = await import('./metrics.js');
    const { silentLogger } = await import('./logger.js');
    const { Registry } = await import('prom-client');
    let problems: string[] = [];
    const server = await startMetricsServer('127.0.0.1:0', new Registry(), silentLogger(), {
      health: () => problems,
      ready: () => {
        throw new Error('not wired');
      },
    });
    try {
      const { port } = server.address() as { port: number };
      const get = async (path: string) => {
        const r = await fetch(`http://127.0.0.1:${port}${path}`);
        return { status: r.status, body: await r.text() };
      };
      expect(await get('/healthz')).toEqual({ status: 200, body: 'ok\n' });
      problems = ['192.0.2.1 is owned but not answered on eth0: EPERM', 'the event loop stalled for 1500 ms 2 s ago'];
      expect(await get('/healthz')).toEqual({ status: 503, body: `${problems.join('\n')}\n` });
      // A check that throws is a problem, not a crash.
      expect(await get('/readyz')).toEqual({ status: 503, body: 'a health check failed: not wired\n' });
    } finally {
      server.close();
    }
  });
});

describe('failover, conflict and reload metrics', () => {
  it('exposes takeovers by cause, the failover histogram, conflict episodes, auth failures and reloads', async () => {
    const listeners: ((seconds: number, cause: string) => void)[] = [];
    const zero = { incarnation: 1, sent: 0, received: 0, accepted: 0, suspicions: 0, deaths: 0, revivals: 0, leaves: 0, refutations: 0, stalls: 0, badMetadata: 0, sendErrors: 0 };
    const drops = { ...(Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as MembershipStats['drops']), 'bad-mac': 4, 'unknown-key': 1, replay: 9 };
    const reg = speakerMetrics({
      node: 'n1',
      stats: new ResponderStats(),
      owned: () => new Map(),
      services: () => [],
      membership: { stats: () => ({ ...zero, drops, verified: { current: 0, previous: 0 }, mainLoopHangs: 2 }), view: () => ({ alive: new Set(), members: new Map() }) },
      failovers: {
        takeovers: new Map([
          ['death', 2],
          ['election', 1],
        ]),
        onFailover: (l) => {
          listeners.push(l);
          return () => undefined;
        },
      },
      conflictEpisodes: () => 3,
      configReloads: () => ({ success: 5, failure: 2 }),
    });
    for (const l of listeners) {
      l(0.004, 'death');
      l(0.3, 'handoff');
    }
    const text = await scrapeText(reg);
    expect(text).toContain('l2vip_takeovers_total{cause="death"} 2');
    expect(text).toContain('l2vip_membership_transitions_total{event="main-loop-hang"} 2');
    expect(text).toContain('l2vip_takeovers_total{cause="election"} 1');
    expect(text).toContain('l2vip_failover_duration_seconds_bucket{le="0.005",cause="death"} 1');
    expect(text).toContain('l2vip_failover_duration_seconds_bucket{le="0.25",cause="handoff"} 0');
    expect(text).toContain('l2vip_failover_duration_seconds_count{cause="handoff"} 1');
    expect(text).toContain('l2vip_conflicts_total 3');
    expect(text).toContain('l2vip_membership_auth_failures_total{reason="bad-mac"} 4');
    expect(text).toContain('l2vip_membership_auth_failures_total{reason="unknown-key"} 1');
    expect(text).not.toContain('l2vip_membership_auth_failures_total{reason="replay"}');
    expect(text).toContain('l2vip_config_reloads_total{result="success"} 5');
    expect(text).toContain('l2vip_config_reloads_total{result="failure"} 2');
  });
});

describe('status endpoint', () => {
  it('serves the status document as JSON, and 404 without one', async () => {
    const { startMetricsServer } = await import('./metrics.js');
    const { silentLogger } = await import('./logger.js');
    const { Registry } = await import('prom-client');
    const doc = { schemaVersion: 1, node: 'n1' };
    const withStatus = await startMetricsServer('127.0.0.1:0', new Registry(), silentLogger(), {}, () => doc);
    const without = await startMetricsServer('127.0.0.1:0', new Registry(), silentLogger(), {});
    try {
      const url = (s: typeof withStatus) => `http://127.0.0.1:${(s.address() as { port: number }).port}/status`;
      const r = await fetch(url(withStatus));
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('application/json');
      expect(await r.json()).toEqual(doc);
      expect((await fetch(url(without))).status).toBe(404);
    } finally {
      withStatus.close();
      without.close();
    }
  });
});

describe('status endpoint in slices', () => {
  it('serves the slices one after the other, and 500 when the first cannot be built', async () => {
    const ok = await startMetricsServer('127.0.0.1:0', new Registry(), silentLogger(), {}, { slices: () => ['{\n  "a": ', '1', '\n}\n'] });
    const bad = await startMetricsServer('127.0.0.1:0', new Registry(), silentLogger(), {}, {
      slices: function* () {
        yield* [];
        throw new Error('no view');
      },
    });
    try {
      const url = (s: typeof ok) => `http://127.0.0.1:${(s.address() as AddressInfo).port}/status`;
      const r = await fetch(url(ok));
      expect(r.headers.get('content-type')).toBe('application/json');
      expect(await r.text()).toBe('{\n  "a": 1\n}\n');
      const b = await fetch(url(bad));
      expect(b.status).toBe(500);
      expect(await b.text()).toBe('status failed: no view\n');
    } finally {
      ok.close();
      bad.close();
    }
  });
});

describe('metrics server', () => {
  it('listens on ":port" and answers /readyz from its callback', async () => {
    let ready = false;
    const server = await startMetricsServer(':0', new Registry(), silentLogger(), { ready: () => (ready ? [] : ['not synced']) });
    try {
      const { port } = server.address() as AddressInfo;
      const get = (path: string): Promise<number> => fetch(`http://127.0.0.1:${port}${path}`).then((r) => r.status);
      expect(await get('/healthz')).toBe(200);
      expect(await get('/readyz')).toBe(503);
      ready = true;
      expect(await get('/readyz')).toBe(200);
      expect(await get('/metrics')).toBe(200);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
