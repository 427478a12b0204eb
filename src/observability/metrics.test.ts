import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ResponderStats } from '../announcer/responder-stats.js';
import { silentLogger } from './logger.js';
import { speakerRegistry, startMetricsServer } from './metrics.js';

describe('speaker metrics', () => {
  it('exposes MetalLB\'s layer 2 metric names per IP, and l2vip drops per reason', async () => {
    const stats = new ResponderStats();
    Object.assign(stats.ip('192.0.2.10'), { requestsReceived: 5, responsesSent: 4, gratuitousSent: 10, conflicts: 1 });
    stats.drop('not-ours');
    stats.drop('not-ours');
    stats.drop('malformed:bad-checksum');
    const reg = speakerRegistry({
      node: 'n1',
      stats,
      owned: () => new Map([['192.0.2.10', new Set(['eth0'])]]),
      services: () => [
        { name: 'web', addresses: ['192.0.2.10'], owner: 'n1' },
        { name: 'api', addresses: ['192.0.2.11'], owner: 'n2' },
        { name: 'off', addresses: ['192.0.2.12'], owner: undefined },
      ],
    });
    const text = await reg.metrics();
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
    expect(await reg.metrics()).toBe(text);
  });
});

describe('metrics server', () => {
  it('listens on ":port" and answers /readyz from its callback', async () => {
    let ready = false;
    const server = await startMetricsServer(':0', new Registry(), silentLogger(), { ready: () => ready });
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
