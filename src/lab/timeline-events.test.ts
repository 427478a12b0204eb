import { describe, expect, it } from 'vitest';
import { KeepalivedRunner } from './keepalived-runner.js';
import type { LabContext } from './node-runner.js';
import { StandaloneRunner } from './standalone-runner.js';
import { planTopology } from './topology.js';

const topo = planTopology('1234z5f', 3);
const n2 = topo.nodes[1]!;

describe('timeline events from l2vip speaker logs', () => {
  const r = new StandaloneRunner('', 'debug');
  const line = (o: object): string => JSON.stringify({ level: 30, time: 1700000000123, pid: 1, node: 'n2', ...o });

  it('reads suspicions, deaths, elections and the first gratuitous announcement, at the log line\'s own time', () => {
    expect(r.timelineEvent(line({ level: 20, component: 'membership', node: 'n1', state: 'suspect', from: 'alive', msg: 'member state changed' }))).toEqual({ at: 1700000000123, kind: 'suspect', subject: 'n1' });
    expect(r.timelineEvent(line({ node: 'n1', state: 'dead', from: 'suspect', msg: 'member state changed' }))).toEqual({ at: 1700000000123, kind: 'dead', subject: 'n1' });
    expect(r.timelineEvent(line({ service: 'web', owner: 'n2', msg: 'owner elected' }))).toEqual({ at: 1700000000123, kind: 'elected', subject: 'n2' });
    expect(r.timelineEvent(line({ ip: '198.51.100.200', iface: 'eth0', msg: 'announcing' }))).toEqual({ at: 1700000000123, kind: 'garp', subject: '198.51.100.200' });
  });

  it('ignores other lines, other states and broken JSON', () => {
    expect(r.timelineEvent(line({ node: 'n1', state: 'alive', from: 'suspect', msg: 'member state changed' }))).toBeUndefined();
    expect(r.timelineEvent(line({ service: 'web', owner: null, msg: 'no node can announce' }))).toBeUndefined();
    expect(r.timelineEvent(line({ ip: '198.51.100.200', msg: 'withdrawn' }))).toBeUndefined();
    expect(r.timelineEvent('{"msg":"owner elected", broken')).toBeUndefined();
    expect(r.timelineEvent('plain text: "msg":"announcing"')).toBeUndefined();
  });

  it('runs the speakers at the log level asked for (debug carries the suspicions)', () => {
    const ctx: LabContext = { topo, dir: '/tmp/x', runner: { run: () => Promise.reject(new Error('unused')) } };
    expect(r.command(ctx, n2).slice(-4)).toEqual(['--config', '/tmp/x/n2.yaml', '--log-level', 'debug']);
    expect(new StandaloneRunner().command(ctx, n2).slice(-2)).toEqual(['--log-level', 'info']);
  });
});

describe('timeline events from keepalived logs', () => {
  const r = new KeepalivedRunner({ advertIntS: 0.1, ipv6: true });
  const at = 1700000000456.5;
  const ka = (text: string): string => `Sun Nov 29 19:52:34 2026: ${text}`;

  it('reads the IPv4 instance\'s advert timeout, its entry into MASTER and its first gratuitous ARPs, at the time the lab read them', async () => {
    const ctx: LabContext = { topo, dir: '/nonexistent', runner: { run: () => Promise.resolve({ code: 0, stdout: '', stderr: '' }) } };
    await r.prepare(ctx).catch(() => undefined);
    expect(r.timelineEvent(ka('(VI_4) Receive advertisement timeout'), n2, at)).toEqual({ at, kind: 'dead', subject: 'master' });
    expect(r.timelineEvent(ka('(VI_4) Entering MASTER STATE'), n2, at)).toEqual({ at, kind: 'elected', subject: 'n2' });
    expect(r.timelineEvent(ka('(VI_4) Sending/queueing gratuitous ARPs on eth0 for 198.51.100.200'), n2, at)).toEqual({ at, kind: 'garp', subject: '198.51.100.200' });
  });

  it('ignores the IPv6 instance (it moves with the IPv4 one), the per-packet lines and the rest', () => {
    for (const l of ['(VI_6) Receive advertisement timeout', '(VI_6) Entering MASTER STATE', 'Sending gratuitous ARP on eth0 for 198.51.100.200', '(VI_4) Entering BACKUP STATE (init)', 'Startup complete']) {
      expect(r.timelineEvent(ka(l), n2, at)).toBeUndefined();
    }
  });

  it('logs in detail, where keepalived writes the advert timeouts and gratuitous ARPs', () => {
    const ctx: LabContext = { topo, dir: '/tmp/x', runner: { run: () => Promise.reject(new Error('unused')) } };
    expect(r.command(ctx, n2)).toContain('--log-detail');
  });
});
